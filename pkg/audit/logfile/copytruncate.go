package logfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// keptBytes is how much of what was last written is kept to find what a
// copytruncate missed: everything written between its copy and its
// truncate, seconds of events at any rate this server reaches.
const keptBytes = 4 << 20

// recent is the tail of the file as this process wrote it: the bytes
// [end-len(buf), end), end being File.size.
type recent struct{ buf []byte }

func (r *recent) add(p []byte) {
	if len(p) > keptBytes { // larger than all we keep: keep nothing
		r.buf = r.buf[:0]
		return
	}
	if r.buf == nil {
		r.buf = make([]byte, 0, 2*keptBytes)
	}
	if len(r.buf)+len(p) > cap(r.buf) {
		keep := keptBytes - len(p)
		r.buf = r.buf[:copy(r.buf, r.buf[len(r.buf)-keep:])]
	}
	r.buf = append(r.buf, p...)
}

func (r *recent) reset() { r.buf = r.buf[:0] }

// takeBack forgets the last n bytes added: a line taken back from the file.
func (r *recent) takeBack(n int64) {
	if n > int64(len(r.buf)) {
		r.reset() // the tail before them is gone: keep nothing
		return
	}
	r.buf = r.buf[:int64(len(r.buf))-n]
}

// missedByCopy finds the copy a copytruncate made of the file (a sibling
// named after it, not compressed, whose end matches what we wrote) and
// returns what was written after the copy was taken: the bytes the
// truncate took away that are in no file. ok is false when no copy matches.
// inNewFile is what the truncated file holds now: the last bytes we wrote,
// which landed after the truncate (between our check and our write), are
// there already and are not missed.
func (f *File) missedByCopy(inNewFile int64) (missed []byte, copyPath string, ok bool) {
	start := f.size - int64(len(f.recent.buf)) // file offset of recent.buf[0]
	written := f.size - inNewFile              // what went into the file before the truncate
	if written < start {
		return nil, "", false
	}
	var newest time.Time
	for _, name := range Copies(f.opts.Path) {
		info, err := os.Stat(name)
		if err != nil || info.Size() > written || info.Size() <= start || info.ModTime().Before(newest) {
			continue
		}
		size := info.Size()
		k := min(4096, size-start)
		tail := make([]byte, k)
		c, err := os.Open(name)
		if err != nil {
			continue
		}
		_, err = c.ReadAt(tail, size-k)
		c.Close()
		if (err != nil && err != io.EOF) || !bytes.Equal(tail, f.recent.buf[size-k-start:size-start]) {
			continue
		}
		missed, copyPath, ok, newest = f.recent.buf[size-start:written-start], name, true, info.ModTime()
	}
	return missed, copyPath, ok
}

// Copies lists the files beside path that a copytruncate may have copied
// it to: named after it (audit.log.1, audit.log-20261201), regular, not
// compressed. Which one is the copy is for the caller to tell by content.
func Copies(path string) []string {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if name != base && strings.HasPrefix(name, base) && !strings.HasSuffix(name, ".gz") && e.Type().IsRegular() {
			out = append(out, filepath.Join(dir, name))
		}
	}
	return out
}
