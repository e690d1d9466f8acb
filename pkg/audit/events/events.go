// Package events reads audit events as k8s.io/apiserver's backends write
// them: JSON lines of audit.k8s.io/v1 Events (the log backend with
// --audit-log-format=json) and EventLists (the webhook backend). It is the
// one reader that expect, logview and sink use.
//
// It decodes with encoding/json into the library's v1 types rather than
// through the audit scheme's codecs: the backends write v1 JSON only, and
// decoding 400-event deliveries is on the sink's hot path
// (BenchmarkDecodeEventList400).
package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Annotation keys the authorization filter of k8s.io/apiserver writes
// (unexported there, in pkg/endpoints/filters/authorization.go).
const (
	DecisionAnnotation = "authorization.k8s.io/decision"
	ReasonAnnotation   = "authorization.k8s.io/reason"
)

// maxLine bounds one line: a RequestResponse event of a large object.
const maxLine = 64 << 20

// ScanLines calls fn with every non-empty line of r and its number (from
// 1), until fn returns an error. A line longer than 64 MiB is an error.
func ScanLines(r io.Reader, fn func(n int, line []byte) error) (lines int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return n, err
		}
	}
	return n, sc.Err()
}

// DecodeEvent decodes one line of a JSON audit log. A line that is JSON but
// not an audit.k8s.io/v1 Event with an auditID and a stage is an error too.
func DecodeEvent(line []byte) (auditv1.Event, error) {
	var e auditv1.Event
	if err := json.Unmarshal(line, &e); err != nil {
		return e, &SyntaxError{Err: err}
	}
	if e.Kind != "Event" || e.APIVersion != auditv1.SchemeGroupVersion.String() || e.AuditID == "" || e.Stage == "" {
		return e, fmt.Errorf("not an audit.k8s.io/v1 Event (apiVersion %q kind %q)", e.APIVersion, e.Kind)
	}
	return e, nil
}

// SyntaxError is a line that is not JSON at all: torn, or foreign.
type SyntaxError struct{ Err error }

func (e *SyntaxError) Error() string { return e.Err.Error() }
func (e *SyntaxError) Unwrap() error { return e.Err }

// DecodeEventList decodes an audit.k8s.io/v1 EventList as the webhook
// backend sends it; every item must have an auditID, a stage and a level.
func DecodeEventList(body []byte) (*auditv1.EventList, error) {
	var list auditv1.EventList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("not an audit EventList: %w", err)
	}
	if list.APIVersion != auditv1.SchemeGroupVersion.String() || list.Kind != "EventList" {
		return nil, fmt.Errorf("not an audit EventList: apiVersion %q kind %q, want %q %q",
			list.APIVersion, list.Kind, auditv1.SchemeGroupVersion.String(), "EventList")
	}
	for i, e := range list.Items {
		if e.AuditID == "" || e.Stage == "" || e.Level == "" {
			return nil, fmt.Errorf("not an audit EventList: items[%d] lacks auditID, stage or level", i)
		}
	}
	return &list, nil
}
