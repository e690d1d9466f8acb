package logfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"

	"github.com/mini-apiserver/mini-apiserver/internal/poll"
)

func open(t *testing.T, opts Options) *File {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "audit", "audit.log")
	}
	f, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// writeEvents writes n lines "<tag> <i>".
func writeEvents(t *testing.T, f *File, tag string, n int) {
	t.Helper()
	for i := range n {
		if _, err := fmt.Fprintf(f, "%s %d\n", tag, i); err != nil {
			t.Fatalf("write %s %d: %v", tag, i, err)
		}
	}
}

// lines reads path (through gzip for a compressed backup) and fails on a
// NUL byte or a line that is not "<tag> <i>".
func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if data, err = io.ReadAll(z); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		t.Fatalf("%s has a NUL byte at %d", path, i)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var tag string
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &tag, &n); err != nil {
			t.Fatalf("%s: line %.80q does not parse: %v", path, sc.Text(), err)
		}
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func counter(t *testing.T, reason string) float64 {
	t.Helper()
	v, err := testutil.GetCounterMetricValue(reopens.WithLabelValues(reason))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestCreatesPathPrivate(t *testing.T) {
	f := open(t, Options{})
	if got := mode(t, f.opts.Path); got != 0o600 {
		t.Errorf("log mode %v, want 0600", got)
	}
	if got := mode(t, filepath.Dir(f.opts.Path)); got != 0o700 {
		t.Errorf("directory mode %v, want 0700", got)
	}
}

func TestRenamedAway(t *testing.T) {
	for _, maxSize := range []int{0, 1} {
		t.Run(fmt.Sprintf("maxsize=%d", maxSize), func(t *testing.T) {
			f := open(t, Options{MaxSize: maxSize})
			path := f.opts.Path
			before := counter(t, reasonRenamed)
			writeEvents(t, f, "before", 10)
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			writeEvents(t, f, "after", 5)
			if got := lines(t, path+".1"); len(got) != 10 || got[9] != "before 9" {
				t.Errorf("renamed file holds %q, want the 10 events before the rename", got)
			}
			if got := lines(t, path); len(got) != 5 || got[0] != "after 0" {
				t.Errorf("the path holds %q, want the 5 events after the rename", got)
			}
			if got := counter(t, reasonRenamed) - before; got != 1 {
				t.Errorf("reopens{reason=renamed} moved by %v, want 1", got)
			}
		})
	}
}

func TestDeletedCountsWhatWasInIt(t *testing.T) {
	f := open(t, Options{})
	path := f.opts.Path
	deleted, _ := testutil.GetCounterMetricValue(deletedEvents)
	errs, _ := testutil.GetCounterMetricValue(auditErrors.WithLabelValues("log"))
	writeEvents(t, f, "doomed", 7)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Idle: the path comes back without a write.
	poll.Until(t, "the deleted log to be recreated", func() bool { _, err := os.Stat(path); return err == nil })
	writeEvents(t, f, "after", 3)
	if got := lines(t, path); len(got) != 3 {
		t.Errorf("recreated log holds %q, want the 3 events after", got)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("recreated log mode %v, want 0600", got)
	}
	if v, _ := testutil.GetCounterMetricValue(deletedEvents); v-deleted != 7 {
		t.Errorf("deleted_events_total moved by %v, want 7", v-deleted)
	}
	if v, _ := testutil.GetCounterMetricValue(auditErrors.WithLabelValues("log")); v-errs != 7 {
		t.Errorf("apiserver_audit_error_total{plugin=log} moved by %v, want 7", v-errs)
	}
	// What the server's /metrics serves: the library's own counter.
	if v := servedAuditErrors(t); v != errs+7 {
		t.Errorf("the registry serves apiserver_audit_error_total{plugin=log} %v, want %v", v, errs+7)
	}
}

// servedAuditErrors is apiserver_audit_error_total{plugin="log"} as the
// legacy registry (the server's /metrics) gathers it.
func servedAuditErrors(t *testing.T) float64 {
	t.Helper()
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "apiserver_audit_error_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "plugin" && l.GetValue() == "log" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatal("apiserver_audit_error_total{plugin=log} not gathered")
	return 0
}

func TestDirectoryRemoved(t *testing.T) {
	f := open(t, Options{MaxSize: 1})
	path := f.opts.Path
	writeEvents(t, f, "doomed", 4)
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	writeEvents(t, f, "after", 2)
	if got := lines(t, path); len(got) != 2 {
		t.Errorf("log in the recreated directory holds %q, want the 2 events after", got)
	}
	if got := mode(t, filepath.Dir(path)); got != 0o700 {
		t.Errorf("recreated directory mode %v, want 0700", got)
	}
}

func TestDirectoryCannotBeRecreated(t *testing.T) {
	parent := t.TempDir()
	f := open(t, Options{Path: filepath.Join(parent, "audit", "audit.log")})
	writeEvents(t, f, "ok", 1)
	if err := os.RemoveAll(filepath.Join(parent, "audit")); err != nil {
		t.Fatal(err)
	}
	// A file where the directory was: it cannot be recreated.
	if err := os.WriteFile(filepath.Join(parent, "audit"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := fmt.Fprintf(f, "lost %d\n", i); err == nil {
			t.Fatalf("write %d into an uncreatable directory succeeded", i)
		}
	}
	if f.failed != 3 {
		t.Errorf("failed writes counted %d, want 3", f.failed)
	}
	if err := os.Remove(filepath.Join(parent, "audit")); err != nil {
		t.Fatal(err)
	}
	writeEvents(t, f, "back", 1)
	if got := lines(t, f.opts.Path); len(got) != 1 || got[0] != "back 0" {
		t.Errorf("log after recovery holds %q", got)
	}
	if f.failing || f.failed != 0 {
		t.Errorf("the burst of failures did not end with a write")
	}
}

func TestTruncatedInPlace(t *testing.T) {
	for _, maxSize := range []int{0, 1} {
		t.Run(fmt.Sprintf("maxsize=%d", maxSize), func(t *testing.T) {
			f := open(t, Options{MaxSize: maxSize})
			path := f.opts.Path
			before := counter(t, reasonTruncated)
			writeEvents(t, f, "copied", 100)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			writeEvents(t, f, "after", 3)
			got := lines(t, path)
			if len(got) != 3 || got[0] != "after 0" {
				t.Errorf("truncated log holds %q, want the 3 events after, from its start", got)
			}
			if got := counter(t, reasonTruncated) - before; got != 1 {
				t.Errorf("reopens{reason=truncated} moved by %v, want 1", got)
			}
		})
	}
}

// logrotate's copytruncate copies, then truncates: what is written in
// between is in neither file unless the writer writes it again.
func TestCopytruncateMissesNothing(t *testing.T) {
	for _, maxSize := range []int{0, 1} {
		t.Run(fmt.Sprintf("maxsize=%d", maxSize), func(t *testing.T) {
			f := open(t, Options{MaxSize: maxSize})
			path := f.opts.Path
			writeEvents(t, f, "copied", 100)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", data, 0o600); err != nil {
				t.Fatal(err)
			}
			writeEvents(t, f, "between", 5)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			writeEvents(t, f, "after", 1)
			if got := lines(t, path+".1"); len(got) != 100 {
				t.Errorf("the copy holds %d lines, want 100", len(got))
			}
			got := lines(t, path)
			want := []string{"between 0", "between 1", "between 2", "between 3", "between 4", "after 0"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("the truncated log holds %q, want %q", got, want)
			}
		})
	}
}

// A write can land in the truncated file between our check of the path and
// the write itself; it is not written again.
func TestCopytruncateRacingAWrite(t *testing.T) {
	f := open(t, Options{})
	path := f.opts.Path
	writeEvents(t, f, "copied", 100)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o600); err != nil {
		t.Fatal(err)
	}
	writeEvents(t, f, "between", 3)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// The write that raced the truncate: past the check, into the new file.
	f.mu.Lock()
	line := []byte("raced 0\n")
	if _, err := f.file.Write(line); err != nil {
		t.Fatal(err)
	}
	f.size += int64(len(line))
	f.recent.add(line)
	f.mu.Unlock()
	writeEvents(t, f, "after", 1)
	got := lines(t, path)
	want := []string{"raced 0", "between 0", "between 1", "between 2", "after 0"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the truncated log holds %q, want %q", got, want)
	}
}

func TestRecentKeepsTheTail(t *testing.T) {
	var r recent
	chunk := bytes.Repeat([]byte("x"), keptBytes/3)
	for range 10 {
		r.add(chunk)
	}
	r.add([]byte("end"))
	if len(r.buf) < keptBytes-len(chunk) || len(r.buf) > keptBytes || !bytes.HasSuffix(r.buf, []byte("xend")) {
		t.Errorf("kept %d bytes ending %q", len(r.buf), r.buf[max(0, len(r.buf)-4):])
	}
	r.takeBack(3)
	if !bytes.HasSuffix(r.buf, []byte("xx")) || bytes.HasSuffix(r.buf, []byte("end")) {
		t.Errorf("after taking back a line the tail ends %q", r.buf[max(0, len(r.buf)-4):])
	}
	r.add(make([]byte, keptBytes+1))
	if len(r.buf) != 0 {
		t.Errorf("a write larger than what is kept left %d bytes", len(r.buf))
	}
}

// After lumberjack rotates, its new file must still be appended to, so a
// copytruncate then leaves no hole.
func TestBuiltInRotationKeepsItsNamesAndAppends(t *testing.T) {
	f := open(t, Options{MaxSize: 1, MaxBackups: 2})
	path := f.opts.Path
	line := strings.Repeat("x", 1000)
	for i := range 1100 { // 1.1 MB: one rotation
		if _, err := fmt.Fprintf(f, "big %d %s\n", i, line); err != nil {
			t.Fatal(err)
		}
	}
	backups, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "audit-*.log"))
	if len(backups) != 1 {
		t.Fatalf("backups %v, want one named as lumberjack names them", backups)
	}
	if got := len(lines(t, backups[0])) + len(lines(t, path)); got != 1100 {
		t.Fatalf("backup and log hold %d lines, want 1100", got)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeEvents(t, f, "after", 2)
	if got := lines(t, path); len(got) != 2 {
		t.Errorf("log after rotation and truncation holds %d lines, want 2", len(got))
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	f := open(t, Options{})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("late\n")); err == nil {
		t.Error("a write after Close succeeded")
	}
}

// writeInPieces writes line as one event in pieces of size piece.
func writeInPieces(f *File, line string, piece int) error {
	return f.WriteLine(int64(len(line)), func(w io.Writer) error {
		for s := line; len(s) > 0; {
			n := min(piece, len(s))
			if _, err := io.WriteString(w, s[:n]); err != nil {
				return err
			}
			s = s[n:]
		}
		return nil
	})
}

// A line given in pieces is rotated as a whole: lumberjack, given one
// piece at a time, would rotate in the middle of the line.
func TestLineInPiecesIsRotatedWhole(t *testing.T) {
	f := open(t, Options{MaxSize: 1, MaxBackups: 5})
	payload := strings.Repeat("x", 300_000)
	for i := range 8 { // 2.4 MB: two rotations
		if err := writeInPieces(f, fmt.Sprintf("big %d %s\n", i, payload), 4096); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(f.opts.Path), "audit*.log"))
	if len(files) != 3 {
		t.Fatalf("files %v, want the log and two backups", files)
	}
	total := 0
	for _, name := range files {
		got := lines(t, name) // fails on a line cut in two
		for _, l := range got {
			if len(l) < len(payload) {
				t.Errorf("%s holds a part of a line (%d bytes)", name, len(l))
			}
		}
		total += len(got)
	}
	if total != 8 {
		t.Errorf("the files hold %d lines, want 8", total)
	}
}

// lumberjack refuses a write larger than MaxSize; a line given in pieces
// is refused the same, whole, and counted.
func TestLineLargerThanMaxSizeIsRefused(t *testing.T) {
	f := open(t, Options{MaxSize: 1})
	writeEvents(t, f, "before", 1)
	err := writeInPieces(f, "huge 0 "+strings.Repeat("x", megabyte)+"\n", 4096)
	if err == nil || !strings.Contains(err.Error(), "exceeds maximum file size") {
		t.Fatalf("a line of more than MaxSize: %v, want lumberjack's refusal", err)
	}
	writeEvents(t, f, "after", 1)
	if got := lines(t, f.opts.Path); len(got) != 2 {
		t.Errorf("log holds %q, want the lines before and after", got)
	}
}

// A line whose pieces fail, or add up to other than its length, is taken
// back: the next line starts where it started.
func TestLineCutShortIsTakenBack(t *testing.T) {
	for name, write := range map[string]func(io.Writer) error{
		"short": func(w io.Writer) error { _, err := io.WriteString(w, "cut 0 "); return err },
		"error": func(w io.Writer) error {
			_, _ = io.WriteString(w, "cut 0 ")
			return errors.New("the encoder failed")
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := open(t, Options{})
			if err := f.WriteLine(int64(len("cut 0 xxxx\n")), write); err == nil {
				t.Fatal("a line cut short was written without an error")
			}
			writeEvents(t, f, "after", 1)
			if got := lines(t, f.opts.Path); len(got) != 1 || got[0] != "after 0" {
				t.Errorf("log holds %q, want only the line after", got)
			}
			// What copytruncate's recovery would write again is the file's.
			if string(f.recent.buf) != "after 0\n" {
				t.Errorf("the tail kept is %q, want the file's %q", f.recent.buf, "after 0\n")
			}
		})
	}
}

// lumberjack names a backup by the millisecond of its rotation and renames
// the log onto that name: lines of more than half the file rotate at every
// line, several within a millisecond, and a second backup of the same name
// would replace the first (with compression, the first's compression then
// deletes the second). Every line is in the files.
func TestRotationsWithinAMillisecondLoseNothing(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%t", compress), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			f := open(t, Options{Path: filepath.Join(dir, "audit.log"), MaxSize: 1, Compress: compress})
			payload := strings.Repeat("x", 600_000)
			const n = 24
			for i := range n {
				if err := writeInPieces(f, fmt.Sprintf("big %d %s\n", i, payload), 64<<10); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			var files []string
			poll.Until(t, "every backup compressed", func() bool {
				files, _ = filepath.Glob(filepath.Join(dir, "audit*"))
				for _, name := range files {
					if compress && name != f.opts.Path && !strings.HasSuffix(name, ".gz") {
						return false
					}
				}
				return true
			})
			seen := map[string]bool{}
			for _, name := range files {
				for _, l := range lines(t, name) {
					seen[strings.Fields(l)[1]] = true
				}
			}
			if len(seen) != n {
				t.Errorf("the %d files hold %d of the %d lines", len(files), len(seen), n)
			}
		})
	}
}
