// Package logfile is the file under --audit-log-path: what the library's
// log backend writes to, made to survive the tools around it. The path is
// checked before every write and, while idle, every CheckInterval:
//
//   - renamed away (logrotate's create mode, mv): the path is reopened; what
//     was written before is in the renamed file, nothing is lost;
//   - deleted (rm, or the directory removed): the path (and its directory,
//     0700) is recreated; the events this process wrote into the deleted
//     file are gone with it, and are counted and logged, never silent;
//   - truncated in place (logrotate's copytruncate): writing continues at
//     the new end, so no NUL-filled hole appears, and what was written
//     between the copy and the truncate (which logrotate loses) is found by
//     matching the copy against what was last written, and written again;
//   - unwritable: every write fails (the library's log backend counts each
//     event in apiserver_audit_error_total and blocking-strict fails the
//     request), and the failure is logged once a burst.
//
// With rotation on (MaxSize > 0) the built-in rotation is lumberjack's, as
// in the library's AuditLogOptions, with its names and counts.
//
// kube-apiserver keeps writing into a renamed or deleted file
// (kubernetes/kubernetes#111208); this is what the library's getWriter
// would be if it noticed.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
	"k8s.io/klog/v2"
)

// DefaultCheckInterval is how often an idle log is checked: a removed or
// renamed log is back at its path within it.
const DefaultCheckInterval = 250 * time.Millisecond

// Options mirror the library's AuditLogOptions file flags.
type Options struct {
	Path string
	// MaxSize in megabytes, 0 for no built-in rotation; MaxAge in days,
	// MaxBackups and Compress as --audit-log-maxage, -maxbackup, -compress.
	MaxSize, MaxAge, MaxBackups int
	Compress                    bool
	// CheckInterval is how often an idle log is checked
	// (DefaultCheckInterval when 0).
	CheckInterval time.Duration
}

// File is an io.WriteCloser for the library's log backend, which writes
// one event a Write.
type File struct {
	opts Options

	mu sync.Mutex
	// file is our handle on the file the path named when it was opened:
	// written to without rotation, only examined (fstat) with it.
	file *os.File
	// rotating is lumberjack when MaxSize > 0; it writes the same file.
	rotating *lumberjack.Logger
	// fileStat identifies file (device and inode); pathStat is where the
	// path is looked up into.
	fileStat, pathStat syscall.Stat_t
	// size is what the file holds as far as we know; a smaller file was
	// truncated under us.
	size int64
	// events is how many events this process wrote into file.
	events int64
	// recent is the tail of what was written, to recover what a
	// copytruncate missed.
	recent recent
	// pieces is the writer of the line being written.
	pieces pieceWriter
	// lastRotation is the millisecond of the last rotation (rotate).
	lastRotation time.Time
	// failing is set from the first failure to the next write that works;
	// failed counts the writes that failed meanwhile.
	failing bool
	failed  int64
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// Open creates the path (0600, its directory 0700) and starts checking it.
func Open(opts Options) (*File, error) {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	f := &File{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	f.pieces.f = f
	if opts.MaxSize > 0 {
		f.rotating = &lumberjack.Logger{Filename: opts.Path, MaxSize: opts.MaxSize, MaxAge: opts.MaxAge,
			MaxBackups: opts.MaxBackups, Compress: opts.Compress}
	}
	if err := f.open(); err != nil {
		return nil, fmt.Errorf("audit log %s: %w", opts.Path, err)
	}
	go f.watch()
	return f, nil
}

func (f *File) String() string { return f.opts.Path }

// Write writes one event, first making sure the path still names the file.
func (f *File) Write(p []byte) (int, error) {
	if err := f.WriteLine(int64(len(p)), func(w io.Writer) error {
		_, err := w.Write(p)
		return err
	}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteLine writes one event of n bytes that write gives in pieces, first
// making sure the path still names the file; no other event comes between
// the pieces. A line is rotated as a whole: it never starts in one file and
// ends in the next.
func (f *File) WriteLine(n int64, write func(io.Writer) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("audit log %s: %w", f.opts.Path, os.ErrClosed)
	}
	if err := f.check(); err != nil {
		return f.fail(err, 1)
	}
	if f.rotating != nil && n > f.maxSize() {
		// lumberjack's refusal of such a write, made for the whole line.
		return f.fail(fmt.Errorf("write length %d exceeds maximum file size %d", n, f.maxSize()), 1)
	}
	if f.rotating != nil && f.size+n > f.maxSize() {
		if err := f.rotate(); err != nil {
			return f.fail(err, 1)
		}
	}
	// The File's own writer, not a new one: every event passes here, and
	// a writer handed to write would be allocated for each.
	pieces := &f.pieces
	pieces.n = 0
	err := write(pieces)
	if err == nil && pieces.n != n {
		err = fmt.Errorf("an event of %d bytes was given as %d", n, pieces.n)
	}
	if err != nil {
		if pieces.n > 0 {
			// A line cut short (a full disk) would run into the next one:
			// take it back so that every line parses.
			_ = f.file.Truncate(f.size)
			f.recent.takeBack(pieces.n)
		}
		return f.fail(err, 1)
	}
	f.size += n
	f.events++
	if f.failing {
		klog.InfoS("Audit log is written again", "path", f.opts.Path, "lostEvents", f.failed)
		f.failing, f.failed = false, 0
	}
	return nil
}

// pieceWriter writes a line's pieces where the file writes (lumberjack when
// it rotates) and keeps them as the tail written.
type pieceWriter struct {
	f *File
	n int64
}

func (w *pieceWriter) Write(p []byte) (int, error) {
	var n int
	var err error
	if w.f.rotating != nil {
		n, err = w.f.rotating.Write(p)
	} else {
		n, err = w.f.file.Write(p)
	}
	w.n += int64(n)
	if err != nil {
		return n, err
	}
	w.f.recent.add(p)
	return n, nil
}

func (f *File) maxSize() int64 { return int64(f.opts.MaxSize) * megabyte }

// fail counts the events of a failed write and logs the first failure of a burst
// (from a write or the idle check); the library logs and counts each event
// itself.
func (f *File) fail(err error, events int64) error {
	if !f.failing {
		klog.ErrorS(err, "Audit log cannot be written; events are lost until it can (counted in apiserver_audit_error_total{plugin=\"log\"})", "path", f.opts.Path)
		f.failing = true
	}
	f.failed += events
	return err
}

// Close stops checking and closes the file. It may be called more than once.
func (f *File) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.stop)
	err := f.closeFile()
	f.mu.Unlock()
	<-f.done
	return err
}

func (f *File) watch() {
	defer close(f.done)
	t := time.NewTicker(f.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		f.mu.Lock()
		if !f.closed {
			if err := f.check(); err != nil {
				_ = f.fail(err, 0)
			}
		}
		f.mu.Unlock()
	}
}

// open opens the path, creating it and its directory as the library does.
func (f *File) open() error {
	if err := os.MkdirAll(filepath.Dir(f.opts.Path), 0o700); err != nil {
		return err
	}
	file, err := os.OpenFile(f.opts.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Fstat(int(file.Fd()), &f.fileStat); err != nil {
		file.Close()
		return err
	}
	f.file, f.size, f.events = file, f.fileStat.Size, 0
	f.recent.reset()
	return nil
}

func (f *File) closeFile() error {
	var errs []error
	if f.rotating != nil {
		// lumberjack reopens the path on its next write, appending.
		errs = append(errs, f.rotating.Close())
	}
	if f.file != nil {
		errs = append(errs, f.file.Close())
		f.file = nil
	}
	return errors.Join(errs...)
}

// check reopens the path when it no longer names the file being written,
// and notices a truncation. It returns an error only when there is no file
// to write to. A stat of the path into a reused buffer: no allocation.
func (f *File) check() error {
	if f.file == nil {
		return f.reopen()
	}
	err := syscall.Stat(f.opts.Path, &f.pathStat)
	if err == nil && f.pathStat.Dev == f.fileStat.Dev && f.pathStat.Ino == f.fileStat.Ino {
		if f.pathStat.Size < f.size {
			f.truncated(f.pathStat.Size)
		}
		return nil
	}
	if err := syscall.Fstat(int(f.file.Fd()), &f.fileStat); err != nil || f.fileStat.Nlink == 0 {
		lost := f.events
		f.lose(lost)
		reopens.WithLabelValues(reasonDeleted).Inc()
		if err := f.reopen(); err != nil {
			klog.ErrorS(err, fmt.Sprintf("audit log %s was deleted; %d events written to the deleted file are lost; it cannot be recreated", f.opts.Path, lost),
				"path", f.opts.Path, "lostEvents", lost)
			return err
		}
		klog.ErrorS(nil, fmt.Sprintf("audit log %s was deleted; %d events written to the deleted file are lost; reopened", f.opts.Path, lost),
			"path", f.opts.Path, "lostEvents", lost)
		return nil
	}
	klog.InfoS("Audit log was renamed away; reopening its path", "path", f.opts.Path)
	reopens.WithLabelValues(reasonRenamed).Inc()
	return f.reopen()
}

// truncated writes on at the new end of a file truncated in place, first
// writing again what its copy missed.
func (f *File) truncated(size int64) {
	reopens.WithLabelValues(reasonTruncated).Inc()
	if f.rotating != nil {
		// lumberjack's new files are not opened for appending, and its size
		// count is stale: it reopens, appending.
		_ = f.rotating.Close()
	}
	missed, copyPath, found := f.missedByCopy(size)
	missed = bytes.Clone(missed) // it is recent.buf's, rewritten below
	// What the truncated file holds already is the end of what we wrote.
	kept := f.recent.buf[max(0, len(f.recent.buf)-int(size)):]
	f.size = size
	f.recent.buf = append(f.recent.buf[:0], kept...)
	if !found {
		klog.InfoS("Audit log was truncated in place and no copy of it was found; writing on at its new end", "path", f.opts.Path)
		return
	}
	if _, err := f.file.Write(missed); err != nil {
		klog.ErrorS(err, "Audit log was truncated in place; the events its copy missed could not be written again", "path", f.opts.Path, "copy", copyPath, "lostEvents", bytes.Count(missed, []byte("\n")))
		return
	}
	f.size += int64(len(missed))
	f.recent.add(missed)
	klog.InfoS("Audit log was truncated in place after a copy; the events written after the copy was made are written again", "path", f.opts.Path, "copy", copyPath, "events", bytes.Count(missed, []byte("\n")))
}

func (f *File) reopen() error {
	_ = f.closeFile()
	return f.open()
}

// rotate has lumberjack rotate before a line that would take the file
// past MaxSize (as lumberjack does given the line in one write, which a
// piece of it would not make it do) and moves our handle to the new file.
// lumberjack creates that file without O_APPEND: closing it makes its next
// write reopen the path appending, so a later copytruncate leaves no hole.
//
// lumberjack names the backup by the millisecond it rotates in and renames
// the log onto that name, replacing a backup of the same name: lines of
// more than half the file rotate at every line, several in a millisecond,
// and each such rotation lost the backup before it (with compression, the
// earlier backup's compression deleted the later one). Each rotation is
// made in a millisecond after the last one's.
func (f *File) rotate() error {
	for !time.Now().Truncate(time.Millisecond).After(f.lastRotation) {
		time.Sleep(time.Until(f.lastRotation.Add(time.Millisecond)))
	}
	if err := f.rotating.Rotate(); err != nil {
		return err
	}
	// At or after the millisecond lumberjack named the backup by.
	f.lastRotation = time.Now().Truncate(time.Millisecond)
	return f.reopen()
}

// megabyte is lumberjack's unit of MaxSize.
const megabyte = 1024 * 1024

var _ io.WriteCloser = (*File)(nil)
