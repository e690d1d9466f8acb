package expect

import (
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

const sample = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns/pods","verb":"create","user":{"username":"alice"},"impersonatedUser":{"username":"bob"},"objectRef":{"resource":"pods","namespace":"ns","name":"p","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Pod"},"responseObject":{"kind":"Pod"},"annotations":{"authorization.k8s.io/decision":"allow","x":"y"}}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"1","stage":"RequestReceived","requestURI":"/api/v1/namespaces/ns/pods","verb":"create","user":{"username":"alice"}}
`

func TestReadAndCheck(t *testing.T) {
	events, err := ReadLines(strings.NewReader(sample))
	if err != nil || len(events) != 2 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	complete := Event{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/ns/pods",
		Verb: "create", Code: 201, User: "alice", ImpersonatedUser: "bob", Resource: "pods", Namespace: "ns", Name: "p",
		RequestObject: true, ResponseObject: true, AuthorizeDecision: "allow", Annotations: map[string]string{"x": "y"}}
	received := Event{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageRequestReceived, RequestURI: "/api/v1/namespaces/ns/pods", Verb: "create", User: "alice"}
	if r := Check(events, []Event{complete, received}); !r.OK() || r.Events != 2 {
		t.Errorf("%s", r)
	}
	// Every field matters.
	for name, mutate := range map[string]func(*Event){
		"code": func(e *Event) { e.Code = 200 }, "user": func(e *Event) { e.User = "bob" },
		"request object": func(e *Event) { e.RequestObject = false }, "decision": func(e *Event) { e.AuthorizeDecision = "forbid" },
		"annotation": func(e *Event) { e.Annotations = map[string]string{"x": "z"} }, "name": func(e *Event) { e.Name = "q" },
		"impersonated": func(e *Event) { e.ImpersonatedUser = "" }, "stage": func(e *Event) { e.Stage = auditv1.StagePanic },
	} {
		e := complete
		mutate(&e)
		if r := Check(events, []Event{e}); r.OK() || len(r.Missing) != 1 {
			t.Errorf("%s: mismatching expectation met", name)
		}
	}
	// One event meets one expectation only.
	if r := Check(events, []Event{received, received}); r.OK() {
		t.Errorf("two expectations met by one event")
	}
	if !strings.Contains(Check(events, []Event{{Verb: "delete"}}).String(), "1 of the expected events missing among 2 events") {
		t.Errorf("report: %s", Check(events, []Event{{Verb: "delete"}}))
	}
}

func TestReadLinesReportsTornLines(t *testing.T) {
	torn := sample + `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Meta`
	events, err := ReadLines(strings.NewReader(torn))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3:") || len(events) != 2 {
		t.Errorf("torn last line: %d events, %v", len(events), err)
	}
	if _, err := ReadLines(strings.NewReader(`{"kind":"Pod","apiVersion":"v1"}`)); err == nil || !strings.Contains(err.Error(), "not an audit.k8s.io/v1 Event") {
		t.Errorf("foreign line: %v", err)
	}
}

func TestByAuditID(t *testing.T) {
	events := []auditv1.Event{
		{AuditID: "a", Stage: auditv1.StageRequestReceived, User: authnv1.UserInfo{Username: "u"}, ObjectRef: &auditv1.ObjectReference{}},
		{AuditID: "b"}, {AuditID: "a", Stage: auditv1.StageResponseComplete, RequestObject: &runtime.Unknown{}, ResponseStatus: &metav1.Status{Code: 200}},
	}
	got := ByAuditID(events)
	if len(got["a"]) != 2 || got["a"][1].Stage != auditv1.StageResponseComplete || len(got["b"]) != 1 {
		t.Errorf("%v", got)
	}
	if s := Summarize(&events[2]); s.Code != 200 || !s.RequestObject {
		t.Errorf("summary %+v", s)
	}
}
