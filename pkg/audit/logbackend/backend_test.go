package logbackend

import (
	"bytes"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
)

// writes records each Write.
type writes struct{ calls [][]byte }

func (w *writes) Write(p []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(p))
	return len(p), nil
}

// The lines are the library's log backend's, byte for byte (escapes,
// objects, annotations, every level), each in one Write.
func TestLinesAreTheLibrarys(t *testing.T) {
	at := metav1.NewMicroTime(time.Date(2026, 12, 3, 10, 0, 0, 123456000, time.UTC))
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","annotations":{"note":"<b>&\u2028</b>"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`)
	events := []*auditinternal.Event{
		{Level: auditinternal.LevelMetadata, AuditID: "a", Stage: auditinternal.StageRequestReceived, RequestURI: "/api/v1/pods?labelSelector=a%3Db&x=<y>",
			Verb: "list", User: authnv1.UserInfo{Username: "alice", Groups: []string{user.AllAuthenticated}}, SourceIPs: []string{"127.0.0.1"},
			UserAgent: "kubectl/v1.37.2 \"quoted\"", RequestReceivedTimestamp: at, StageTimestamp: at},
		{Level: auditinternal.LevelRequestResponse, AuditID: "b", Stage: auditinternal.StageResponseComplete, RequestURI: "/api/v1/namespaces/d/pods",
			Verb: "create", User: authnv1.UserInfo{Username: "bob"}, ImpersonatedUser: &authnv1.UserInfo{Username: "ü"},
			ObjectRef:      &auditinternal.ObjectReference{Resource: "pods", Namespace: "d", Name: "web", APIVersion: "v1"},
			ResponseStatus: &metav1.Status{Code: 201}, RequestObject: &runtime.Unknown{Raw: pod, ContentType: runtime.ContentTypeJSON},
			ResponseObject: &runtime.Unknown{Raw: pod, ContentType: runtime.ContentTypeJSON}, RequestReceivedTimestamp: at, StageTimestamp: at,
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by ClusterRoleBinding "x"`}},
	}
	var ours writes
	var library bytes.Buffer
	NewBackend(&ours, auditv1.SchemeGroupVersion).ProcessEvents(events...)
	pluginlog.NewBackend(&library, pluginlog.FormatJson, auditv1.SchemeGroupVersion).ProcessEvents(events...)
	if got := string(bytes.Join(ours.calls, nil)); got != library.String() {
		t.Errorf("ours:\n%s\nthe library's:\n%s", got, library.String())
	}
	if len(ours.calls) != len(events) {
		t.Fatalf("%d writes for %d events", len(ours.calls), len(events))
	}
	for i, w := range ours.calls {
		if strings.Count(string(w), "\n") != 1 || !bytes.HasSuffix(w, []byte("\n")) {
			t.Errorf("write %d is not one line: %q", i, w)
		}
	}
}
