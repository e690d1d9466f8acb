// Package expect checks audit events against expectations, in the manner of
// Kubernetes' own test/utils/audit.go: each expectation names the fields
// that matter (level, stage, URI, verb, code, user, resource, namespace,
// presence of request and response objects, authorization decision,
// annotations) and the check reports the expectations no event met.
package expect

import (
	"fmt"
	"io"
	"os"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// Event is the comparable summary of an audit event.
type Event struct {
	Level             auditv1.Level
	Stage             auditv1.Stage
	RequestURI        string
	Verb              string
	Code              int32
	User              string
	ImpersonatedUser  string
	Resource          string
	Subresource       string
	Namespace         string
	Name              string
	RequestObject     bool
	ResponseObject    bool
	AuthorizeDecision string
	// Annotations that must be present with these values (others may be too).
	Annotations map[string]string
}

// Summarize reduces an audit event to the fields an Event compares.
func Summarize(e *auditv1.Event) Event {
	s := Event{
		Level:             e.Level,
		Stage:             e.Stage,
		RequestURI:        e.RequestURI,
		Verb:              e.Verb,
		User:              e.User.Username,
		RequestObject:     e.RequestObject != nil,
		ResponseObject:    e.ResponseObject != nil,
		AuthorizeDecision: e.Annotations[events.DecisionAnnotation],
		Annotations:       e.Annotations,
	}
	if e.ResponseStatus != nil {
		s.Code = e.ResponseStatus.Code
	}
	if e.ImpersonatedUser != nil {
		s.ImpersonatedUser = e.ImpersonatedUser.Username
	}
	if e.ObjectRef != nil {
		s.Resource, s.Subresource = e.ObjectRef.Resource, e.ObjectRef.Subresource
		s.Namespace, s.Name = e.ObjectRef.Namespace, e.ObjectRef.Name
	}
	return s
}

// Matches reports whether the summary of an actual event meets e.
func (e Event) Matches(actual Event) bool {
	if e.Level != actual.Level || e.Stage != actual.Stage || e.RequestURI != actual.RequestURI || e.Verb != actual.Verb ||
		e.Code != actual.Code || e.User != actual.User || e.ImpersonatedUser != actual.ImpersonatedUser ||
		e.Resource != actual.Resource || e.Subresource != actual.Subresource || e.Namespace != actual.Namespace ||
		e.RequestObject != actual.RequestObject || e.ResponseObject != actual.ResponseObject ||
		e.AuthorizeDecision != actual.AuthorizeDecision {
		return false
	}
	if e.Name != "" && e.Name != actual.Name {
		return false
	}
	for k, v := range e.Annotations {
		if got, ok := actual.Annotations[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (e Event) String() string {
	return fmt.Sprintf("{%s %s %s %s code=%d user=%s impersonated=%s resource=%s/%s ns=%s name=%s reqObj=%t respObj=%t decision=%q}",
		e.Level, e.Stage, e.Verb, e.RequestURI, e.Code, e.User, e.ImpersonatedUser, e.Resource, e.Subresource, e.Namespace, e.Name,
		e.RequestObject, e.ResponseObject, e.AuthorizeDecision)
}

// Report is the outcome of a check.
type Report struct {
	// Events is how many events were examined.
	Events int
	// Missing are the expectations no event met.
	Missing []Event
}

// OK is true when every expectation was met.
func (r Report) OK() bool { return len(r.Missing) == 0 }

func (r Report) String() string {
	if r.OK() {
		return fmt.Sprintf("all expected events found among %d", r.Events)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the expected events missing among %d events:\n", len(r.Missing), r.Events)
	for _, m := range r.Missing {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	return b.String()
}

// Check finds each expectation among events. An event meets at most one
// expectation, so two identical expectations need two events.
func Check(events []auditv1.Event, expected []Event) Report {
	used := make([]bool, len(events))
	summaries := make([]Event, len(events))
	for i := range events {
		summaries[i] = Summarize(&events[i])
	}
	report := Report{Events: len(events)}
	for _, want := range expected {
		found := false
		for i, got := range summaries {
			if !used[i] && want.Matches(got) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			report.Missing = append(report.Missing, want)
		}
	}
	return report
}

// ReadLines parses a JSON-lines audit log (--audit-log-format=json). A line
// that does not parse is an error naming its number.
func ReadLines(r io.Reader) ([]auditv1.Event, error) {
	var list []auditv1.Event
	_, err := events.ScanLines(r, func(n int, line []byte) error {
		e, err := events.DecodeEvent(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		list = append(list, e)
		return nil
	})
	return list, err
}

// ReadFile parses a JSON-lines audit log file.
func ReadFile(path string) ([]auditv1.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	events, err := ReadLines(f)
	if err != nil {
		return events, fmt.Errorf("%s: %w", path, err)
	}
	return events, nil
}

// ByAuditID groups events by their auditID, keeping arrival order.
func ByAuditID(events []auditv1.Event) map[string][]auditv1.Event {
	out := map[string][]auditv1.Event{}
	for _, e := range events {
		out[string(e.AuditID)] = append(out[string(e.AuditID)], e)
	}
	return out
}
