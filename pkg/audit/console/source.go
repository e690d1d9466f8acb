package console

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
)

// chunkSize is how much of a log's past is read at a time, newest first:
// the first rows of a gigabyte show after one chunk.
var chunkSize int64 = 4 << 20 // a variable: tests read small chunks

// FollowLogs fills the store from audit logs, one per server of a control
// plane (with several, each row names its log), until ctx is done or one
// of them fails. Each log is read newest first: what is written after the
// console opened it is followed as auditctl view --follow does (across
// rotations, renames, deletions and copytruncate), while what it held, and
// then its rotated files (and .gz backups), newest first, are read back to
// front, the past filling in behind the rows shown. The past stops where
// the store is full: requests older than the capacity keeps are not read
// (Stats.Unread says how much). Lines that are not audit events are
// counted, not hidden.
func FollowLogs(ctx context.Context, store *Store, paths []string, interval time.Duration) error {
	var logs []*logReader
	defer func() {
		for _, l := range logs {
			l.close()
		}
	}()
	for _, path := range paths {
		l, err := openLog(store, path)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		if len(paths) > 1 {
			l.name = path
		}
		logs = append(logs, l)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2*len(logs))
	for _, l := range logs {
		follow, past := l.follow, l.past
		l.follow, l.past = nil, nil // theirs now, to close
		go func() {
			errs <- logview.FollowLines(ctx, l.path, follow, l.split, interval, func(lines logview.Lines) { l.add(lines) })
		}()
		go func() {
			defer past.Close()
			errs <- l.readPast(ctx, past)
		}()
	}
	var first error
	for range 2 * len(logs) {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("console: %w", err)
			cancel()
		}
	}
	return first
}

// logReader reads one log into the store.
type logReader struct {
	store *Store
	path  string
	name  string // in rows, when there are several logs
	// follow and past are the log opened twice: followed from split (the
	// end of its last whole line when opened), read back from split.
	follow, past *os.File
	split        int64
	rotated      []string // newest first
	// left is the past's bytes on disk not read yet.
	left int64
}

func openLog(store *Store, path string) (*logReader, error) {
	set, err := logview.LogSet(path)
	if err != nil {
		return nil, err
	}
	l := &logReader{store: store, path: path}
	// The two opens must be the same file: a rotation between them is
	// met by opening both again.
	for try := 0; ; try++ {
		if l.follow, err = os.Open(path); err != nil {
			return nil, err
		}
		if l.past, err = os.Open(path); err != nil {
			l.close()
			return nil, err
		}
		a, errA := l.follow.Stat()
		b, errB := l.past.Stat()
		if err := errors.Join(errA, errB); err != nil {
			l.close()
			return nil, err
		}
		if os.SameFile(a, b) {
			if l.split, err = lastLineEnd(l.past, a.Size()); err != nil {
				l.close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			break
		}
		l.close()
		if try == 3 {
			return nil, fmt.Errorf("%s: replaced while opened, again and again", path)
		}
	}
	backlog := l.split
	for _, f := range set {
		if f == path {
			continue
		}
		if info, err := os.Stat(f); err == nil {
			l.rotated = append(l.rotated, f)
			backlog += info.Size()
		}
	}
	slices.Reverse(l.rotated)
	l.left = backlog
	store.past(backlog, 0, 0)
	return l, nil
}

func (l *logReader) close() {
	for _, f := range []*os.File{l.follow, l.past} {
		if f != nil {
			f.Close()
		}
	}
	l.follow, l.past = nil, nil
}

// lastLineEnd is the offset just past the last newline of f's first size
// bytes: a line being written at the end belongs to the follower.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		begin := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-begin], begin)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return begin + int64(i) + 1, nil
		}
		end = begin
	}
	return 0, nil
}

// readPast reads the log's past newest first: the log up to split, then
// its rotated files.
func (l *logReader) readPast(ctx context.Context, active *os.File) error {
	stopped, err := l.readBack(ctx, l.path, active, l.split, l.split)
	for _, name := range l.rotated {
		if stopped || err != nil {
			break
		}
		stopped, err = l.readRotated(ctx, name)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	l.store.past(0, 0, l.left) // what is left was not read: older than the store keeps, or unreadable
	return err
}

func (l *logReader) readRotated(ctx context.Context, name string) (bool, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // rotated away (deleted, compressed) since it was listed
		}
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !strings.HasSuffix(name, ".gz") {
		return l.readBack(ctx, name, f, info.Size(), info.Size())
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	return l.readBack(ctx, name, bytes.NewReader(data), int64(len(data)), info.Size())
}

// readBack reads r's first size bytes in chunks from the end, each
// chunk's whole lines added to the store; onDisk is what the file takes
// on disk, counted down in l.left as it is read. A chunk is read and
// decoded while the one before is added. It reports whether it stopped
// because the store forgot what it read at once.
func (l *logReader) readBack(ctx context.Context, name string, r io.ReaderAt, size, onDisk int64) (stopped bool, err error) {
	type chunk struct {
		entries  []entry
		problems []string
		begin    int64
		err      error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan chunk, 1)
	go func() {
		defer close(chunks)
		var carry []byte // the newer chunk's start: the end of a line begun here
		// One buffer for every chunk: the lines kept are copied out, and
		// memory new to the process costs a page fault a page (on a VM,
		// as much as decoding it).
		var buf []byte
		for end := size; end > 0; {
			begin := max(0, end-chunkSize)
			n := int(end - begin)
			buf = slices.Grow(buf[:0], n+len(carry))[:n]
			if got, err := r.ReadAt(buf, begin); got < n {
				if err != nil && !errors.Is(err, io.EOF) {
					chunks <- chunk{err: fmt.Errorf("%s: %w", name, err)}
				}
				// Shorter than when opened: truncated in place (copytruncate).
				// What it held is in its copy; the rest is counted unread.
				return
			}
			buf = append(buf, carry...)
			// As file(1) tells text from binary: by a look at some of it.
			if bytes.IndexByte(buf[:min(len(buf), 8<<10)], 0) >= 0 {
				chunks <- chunk{err: fmt.Errorf("%s is not a text audit log (binary content)", name)}
				return
			}
			lines, at := buf, begin
			if begin > 0 {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					carry, end = slices.Clone(buf), begin // a line longer than a chunk
					continue
				}
				carry, lines, at = slices.Clone(buf[:i+1]), buf[i+1:], begin+int64(i)+1
			}
			entries, problems := decodeLines(logview.Lines{File: name, Offset: at, Data: lines})
			select {
			case chunks <- chunk{entries, problems, begin, nil}:
			case <-ctx.Done():
				return
			}
			end = begin
		}
	}()
	counted := int64(0)
	for c := range chunks {
		if c.err != nil {
			return false, c.err
		}
		forgotten := l.store.add(l.name, c.entries)
		if len(c.problems) > 0 {
			l.store.problems(c.problems)
		}
		// What was read, in bytes on disk.
		read := (size-c.begin)*onDisk/size - counted
		counted += read
		l.left -= read
		l.store.past(0, read, 0)
		if forgotten {
			return true, nil
		}
	}
	return false, ctx.Err()
}

// add decodes lines and adds their events to the store; it reports whether
// the store forgot any at once (for a reader of the past: it can stop).
func (l *logReader) add(lines logview.Lines) bool {
	entries, problems := decodeLines(lines)
	forgotten := l.store.add(l.name, entries)
	if len(problems) > 0 {
		l.store.problems(problems)
	}
	return forgotten
}

// decodeLines decodes a block of lines, on every core when it is big. The
// store keeps the lines kept: each part copies its own out, in one piece,
// so that the store holds no more than them and l.Data can be used again.
func decodeLines(l logview.Lines) ([]entry, []string) {
	parts := 1
	if len(l.Data) >= 256<<10 {
		parts = runtime.GOMAXPROCS(0)
	}
	type result struct {
		entries  []entry
		problems []string
	}
	results := make([]result, parts)
	var wg sync.WaitGroup
	data, at, line := l.Data, l.Offset, l.Line
	for p := range parts {
		// Whole lines, about len/parts bytes.
		n := len(data)
		if p < parts-1 {
			n = min(len(data), len(l.Data)/parts)
			if i := bytes.IndexByte(data[n:], '\n'); i >= 0 {
				n += i + 1
			} else {
				n = len(data)
			}
		}
		part, partAt, partLine := data[:n], at, line
		data, at = data[n:], at+int64(n)
		if line > 0 {
			line += bytes.Count(part, []byte{'\n'})
		}
		wg.Go(func() {
			r := &results[p]
			r.entries = make([]entry, 0, len(part)/512+1) // an event of Metadata is about 500 bytes
			dec := newBriefDecoder()
			size := 0
			for len(part) > 0 {
				end := bytes.IndexByte(part, '\n')
				next := end + 1
				if end < 0 {
					end, next = len(part), len(part)
				}
				text := bytes.TrimSpace(part[:end])
				if len(text) > 0 {
					b, err := dec.decode(text)
					if err != nil {
						msg := err.Error()
						if next == len(part) && part[len(part)-1] != '\n' {
							msg = "torn last line (no newline): " + msg
						}
						r.problems = append(r.problems, where(l.File, partLine, partAt)+": "+msg)
					} else {
						r.entries = append(r.entries, entry{b, text})
						size += len(text)
					}
				}
				part, partAt = part[next:], partAt+int64(next)
				if partLine > 0 {
					partLine++
				}
			}
			slab := make([]byte, 0, size)
			for i := range r.entries {
				e := &r.entries[i]
				slab = append(slab, e.line...)
				e.line = slab[len(slab)-len(e.line) : len(slab) : len(slab)]
			}
		})
	}
	wg.Wait()
	if parts == 1 {
		return results[0].entries, results[0].problems
	}
	var entries []entry
	var problems []string
	for _, r := range results {
		entries = append(entries, r.entries...)
		problems = append(problems, r.problems...)
	}
	return entries, problems
}

// where names a line: by its number when known, else by its byte offset
// (a log read from its end or from where it was when opened).
func where(file string, line int, offset int64) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return fmt.Sprintf("%s (byte %d)", file, offset)
}
