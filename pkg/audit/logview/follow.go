package logview

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logfile"
)

// Follow calls emit with the events of path from its beginning and then as
// they are appended, polling every interval until ctx is done. It follows
// the file the way the server's log writer (pkg/audit/logfile) survives
// the tools around it, without losing or repeating a line:
//
//   - renamed away (built-in rotation, logrotate's create, mv) or deleted:
//     the old file is read to its end (once more an interval later, for a
//     write in flight), then the new file at path from its start;
//   - truncated in place (copytruncate): what was written after our last
//     read is read from the copy (a sibling named after path whose content
//     continues what we read), then the truncated file from its start;
//   - path missing (deleted, directory removed): waits for it to return.
func Follow(ctx context.Context, path string, interval time.Duration, emit func([]Located, []Problem)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return FollowLines(ctx, path, f, 0, interval, func(l Lines) {
		events, problems := ParseLines(path, l.Data)
		for i := range events {
			events[i].Line += l.Line - 1
		}
		for i := range problems {
			problems[i].Line += l.Line - 1
		}
		emit(events, problems)
	})
}

// Lines are whole lines of a log as read.
type Lines struct {
	// File is the log's path (the file read may have been renamed since).
	File string
	// Offset is where Data starts in the file read.
	Offset int64
	// Line is the number of Data's first line in the file, 0 when not
	// known (a read that began past the file's start).
	Line int
	Data []byte
}

// FollowLines follows path as Follow does, from offset of f (path, opened
// by the caller), calling emit with whole lines until ctx is done. It takes
// f and closes it.
func FollowLines(ctx context.Context, path string, f *os.File, offset int64, interval time.Duration, emit func(Lines)) error {
	fl := &follower{path: path, emit: emit}
	var err error
	fl.cur, err = fl.newSourceAt(f, offset)
	if err != nil {
		f.Close()
		return err
	}
	defer fl.close()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		fl.poll()
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// keptTail is how much of what was last read is kept to recognise a copy.
const keptTail = 1 << 20

// source is one file being read.
type source struct {
	f      *os.File
	info   os.FileInfo
	offset int64
	// partial is a line not yet ended; line counts the lines emitted,
	// when lineKnown (the file was read from its start).
	partial   []byte
	line      int
	lineKnown bool
	// tail is the end of what was read, to recognise the file's copy.
	tail []byte
}

type follower struct {
	path string
	emit func(Lines)
	cur  *source
	// old is the file path named before, read once more after the switch.
	old *source
}

func (fl *follower) newSource(f *os.File) (*source, error) {
	return fl.newSourceAt(f, 0)
}

// newSourceAt reads f from offset on. What it holds before offset is kept
// as read, so that a truncation or a copy is recognised as if we had.
func (fl *follower) newSourceAt(f *os.File, offset int64) (*source, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	s := &source{f: f, info: info, offset: offset, lineKnown: offset == 0}
	if offset > 0 {
		s.tail = make([]byte, min(offset, keptTail))
		if _, err := f.ReadAt(s.tail, offset-int64(len(s.tail))); err != nil {
			return nil, fmt.Errorf("%s: %w", fl.path, err)
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%s: %w", fl.path, err)
		}
	}
	return s, nil
}

func (fl *follower) close() {
	for _, s := range []*source{fl.old, fl.cur} {
		if s != nil {
			s.f.Close()
		}
	}
}

func (fl *follower) poll() {
	if fl.old != nil {
		fl.drain(fl.old)
		fl.old.f.Close()
		fl.old = nil
	}
	if fl.drain(fl.cur) {
		if st, err := fl.cur.f.Stat(); err == nil {
			fl.restart(fl.cur, st, fl.readCopy())
		}
		return
	}
	st, err := os.Stat(fl.path)
	if err != nil || os.SameFile(st, fl.cur.info) {
		return // gone (what was written to it is read: wait), or the same
	}
	nf, err := os.Open(fl.path)
	if err != nil {
		return
	}
	next, err := fl.newSource(nf)
	if err != nil {
		nf.Close()
		return
	}
	fl.drain(fl.cur)
	fl.old, fl.cur = fl.cur, next
	fl.drain(fl.cur)
}

// drain reads what s has past its offset and emits its whole lines. It
// reports, emitting nothing, a file truncated in place: one that no longer
// holds, just before our offset, the last bytes we read (checked after the
// read, so that a truncation and new writes before it are caught).
func (fl *follower) drain(s *source) (truncated bool) {
	buf, err := io.ReadAll(s.f)
	if err != nil {
		return false
	}
	if !s.unchanged() {
		return true
	}
	if len(buf) == 0 {
		return false
	}
	s.offset += int64(len(buf))
	fl.emitLines(s, buf)
	return false
}

// unchanged says whether the file still holds, just before our offset, the
// last bytes we read.
func (s *source) unchanged() bool {
	k := min(256, len(s.tail))
	if k == 0 {
		return true
	}
	got := make([]byte, k)
	_, err := s.f.ReadAt(got, s.offset-int64(k))
	return err == nil && bytes.Equal(got, s.tail[len(s.tail)-k:])
}

func (fl *follower) emitLines(s *source, buf []byte) {
	start := s.offset - int64(len(buf)) - int64(len(s.partial)) // of data in the file
	s.tail = append(s.tail, buf...)
	if len(s.tail) > keptTail {
		s.tail = append([]byte(nil), s.tail[len(s.tail)-keptTail:]...)
	}
	data := append(s.partial, buf...)
	end := bytes.LastIndexByte(data, '\n') + 1
	s.partial = append([]byte(nil), data[end:]...)
	if end == 0 {
		return
	}
	l := Lines{File: fl.path, Offset: start, Data: data[:end]}
	if s.lineKnown {
		l.Line = s.line + 1
	}
	s.line += bytes.Count(data[:end], []byte{'\n'})
	fl.emit(l)
}

// restart reads s again from the start of its (truncated) file, leaving
// out its first bytes when they are what was read already (skip).
func (fl *follower) restart(s *source, st os.FileInfo, skip []byte) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return
	}
	s.info, s.offset, s.partial, s.line, s.lineKnown, s.tail = st, 0, nil, 0, true, nil
	buf, err := io.ReadAll(s.f)
	if err != nil {
		return
	}
	s.offset = int64(len(buf))
	if len(skip) > 0 && bytes.HasPrefix(buf, skip) {
		buf = buf[len(skip):]
	}
	fl.emitLines(s, buf)
}

// readCopy handles a truncation in place by finding the copy a copytruncate
// made: a sibling named after path, not compressed, whose content agrees
// with what we read. What the copy has past our last read is emitted. When
// we read past the copy's end, those bytes come back as skip: a writer that
// writes again what the copy missed (as pkg/audit/logfile does) starts the
// truncated file with them, and they are not to be read twice.
func (fl *follower) readCopy() (skip []byte) {
	s := fl.cur
	if len(s.tail) == 0 {
		return nil
	}
	tailStart := s.offset - int64(len(s.tail)) // file offset of s.tail[0]
	for _, name := range logfile.Copies(fl.path) {
		info, err := os.Stat(name)
		if err != nil || info.Size() <= tailStart {
			continue
		}
		size := info.Size()
		end := min(size, s.offset) // the copy and our read agree on [tailStart, end)
		k := min(int64(4096), end-tailStart)
		c, err := os.Open(name)
		if err != nil {
			continue
		}
		got := make([]byte, k)
		if _, err := c.ReadAt(got, end-k); err != nil || !bytes.Equal(got, s.tail[end-k-tailStart:end-tailStart]) {
			c.Close()
			continue
		}
		if size > s.offset {
			if _, err := c.Seek(s.offset, io.SeekStart); err == nil {
				if rest, err := io.ReadAll(c); err == nil {
					s.offset += int64(len(rest))
					fl.emitLines(s, rest)
				}
			}
			c.Close()
			return nil
		}
		c.Close()
		return append([]byte(nil), s.tail[size-tailStart:]...)
	}
	return nil
}
