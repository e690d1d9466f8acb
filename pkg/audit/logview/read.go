// Package logview reads audit logs (JSON lines, rotated backups and their
// .gz copies) in time order, filters events and prints them one line each,
// and verifies a set of log files for integrity.
package logview

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// Located is an event with where it was read.
type Located struct {
	auditv1.Event
	File string
	Line int
}

// Problem is a line that is not an audit event.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message) }

var backupStamp = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})\.[^/]*$`)

// OrderFiles puts rotated backups (name-TIMESTAMP.log[.gz]) first, oldest
// first, then the other files in the order given (the active log).
func OrderFiles(files []string) []string {
	var backups, active []string
	for _, f := range files {
		if backupStamp.MatchString(filepath.Base(f)) {
			backups = append(backups, f)
		} else {
			active = append(active, f)
		}
	}
	sort.SliceStable(backups, func(i, j int) bool {
		return backupStamp.FindStringSubmatch(filepath.Base(backups[i]))[1] < backupStamp.FindStringSubmatch(filepath.Base(backups[j]))[1]
	})
	return append(backups, active...)
}

// ReadFiles reads every file ("-" is standard input), gunzipping .gz ones.
// Events come back in time order (stage timestamp, then file order); lines
// that are not events are returned as problems. An unreadable or binary
// file is an error.
func ReadFiles(files []string, stdin io.Reader) ([]Located, []Problem, error) {
	var events []Located
	var problems []Problem
	for _, f := range OrderFiles(files) {
		data, err := readAll(f, stdin)
		if err != nil {
			return nil, nil, err
		}
		ev, pr := ParseLines(f, data)
		events = append(events, ev...)
		problems = append(problems, pr...)
	}
	sort.SliceStable(events, func(i, j int) bool {
		return events[i].StageTimestamp.Time.Before(events[j].StageTimestamp.Time)
	})
	return events, problems, nil
}

func readAll(f string, stdin io.Reader) ([]byte, error) {
	var data []byte
	var err error
	if f == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(f)
	}
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(f, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not a text audit log (binary content)", f)
	}
	return data, nil
}

// ParseLines parses JSON lines, keeping line numbers.
func ParseLines(file string, data []byte) ([]Located, []Problem) {
	var located []Located
	var problems []Problem
	n, err := events.ScanLines(bytes.NewReader(data), func(n int, line []byte) error {
		e, err := events.DecodeEvent(line)
		var syntax *events.SyntaxError
		switch {
		case errors.As(err, &syntax):
			msg := "not valid JSON (torn or foreign line): " + err.Error()
			if !bytes.HasSuffix(data, []byte("\n")) && n == bytes.Count(data, []byte("\n"))+1 {
				msg = "torn last line (no newline, " + err.Error() + ")"
			}
			problems = append(problems, Problem{File: file, Line: n, Message: msg})
		case err != nil:
			problems = append(problems, Problem{File: file, Line: n, Message: err.Error()})
		default:
			located = append(located, Located{Event: e, File: file, Line: n})
		}
		return nil
	})
	if err != nil {
		problems = append(problems, Problem{File: file, Line: n + 1, Message: err.Error()})
	}
	return located, problems
}
