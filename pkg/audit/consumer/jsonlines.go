package consumer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Lines writes every event as a JSON line to a writer, each delivery in one
// write.
type Lines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLines returns a consumer writing to w.
func NewLines(w io.Writer) *Lines { return &Lines{w: w} }

// Consume writes the events.
func (l *Lines) Consume(events []auditv1.Event) error {
	buf, err := encodeLines(events)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing events: %w", err)
	}
	return nil
}

// Files appends every event as a JSON line to dir/events.log or, per user,
// to dir/<user>.log (the authenticated user's name, made safe as a file
// name). Each file is written once per delivery.
type Files struct {
	dir     string
	perUser bool

	mu     sync.Mutex
	files  map[string]*os.File
	closed bool
}

// NewFiles creates dir (0700) and returns a consumer appending to it.
func NewFiles(dir string, perUser bool) (*Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit events output: %w", err)
	}
	return &Files{dir: dir, perUser: perUser, files: map[string]*os.File{}}, nil
}

// Consume appends the events.
func (f *Files) Consume(events []auditv1.Event) error {
	byFile := map[string][]auditv1.Event{}
	var order []string
	for _, e := range events {
		name := "events.log"
		if f.perUser {
			name = FileName(e.User.Username)
		}
		if byFile[name] == nil {
			order = append(order, name)
		}
		byFile[name] = append(byFile[name], e)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("audit events output %s: closed", f.dir)
	}
	for _, name := range order {
		buf, err := encodeLines(byFile[name])
		if err != nil {
			return err
		}
		file, err := f.file(name)
		if err != nil {
			return err
		}
		if _, err := file.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("audit events output %s: %w", file.Name(), err)
		}
	}
	return nil
}

// Close closes the files; later deliveries fail.
func (f *Files) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var err error
	for _, file := range f.files {
		if cerr := file.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	f.files = map[string]*os.File{}
	return err
}

func (f *Files) file(name string) (*os.File, error) {
	if file, ok := f.files[name]; ok {
		return file, nil
	}
	file, err := os.OpenFile(filepath.Join(f.dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit events output: %w", err)
	}
	f.files[name] = file
	return file, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._@-]`)

// FileName maps a user name to a file name that cannot leave the output
// directory.
func FileName(user string) string {
	if user == "" {
		user = "unknown"
	}
	name := unsafeFileChars.ReplaceAllString(user, "_")
	if name == "." || name == ".." {
		name = "_" + name
	}
	return name + ".log"
}

// encodeLines is the events as JSON lines, as the log backend writes them.
func encodeLines(events []auditv1.Event) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	for i := range events {
		line, err := json.Marshal(&events[i])
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return &buf, nil
}
