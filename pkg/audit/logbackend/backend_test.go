package logbackend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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

// lineWriter is a LineWriter that counts the lines given to it in pieces.
type lineWriter struct {
	writes
	lines int
}

func (l *lineWriter) WriteLine(n int64, write func(io.Writer) error) error {
	var line bytes.Buffer
	if err := write(&line); err != nil {
		return err
	}
	if int64(line.Len()) != n {
		return fmt.Errorf("a line of %d bytes said it had %d", line.Len(), n)
	}
	l.lines++
	_, err := l.Write(line.Bytes())
	return err
}

// Streamed around its objects, a line is still the library's, byte for
// byte: objects with whitespace between tokens (a patch as its client sent
// it), escapes, HTML characters and U+2028 in strings, one object or two.
func TestStreamedLinesAreTheLibrarys(t *testing.T) {
	defer func(above int) { streamAbove = above }(streamAbove)
	streamAbove = 0
	at := metav1.NewMicroTime(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	objects := []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}}` + "\n",
		"{ \"metadata\" : {\n\t\"labels\": {\"a b\": \"x\\\" }<&>\\\\\", \"c\":[1, 2.5e3 ,true,null]}}\r\n}",
		"[\"\u2028 \u2029\", \"\\u2028\", \"é\", {}, [ ]]",
		`"only a string with a \" quote"`,
		` 42 `,
	}
	var events []*auditinternal.Event
	for i, raw := range objects {
		ev := &auditinternal.Event{Level: auditinternal.LevelRequestResponse, AuditID: types.UID(fmt.Sprint("id-", i)),
			Stage: auditinternal.StageResponseComplete, RequestURI: "/api/v1/namespaces/d/pods/web?x=<y>", Verb: "patch",
			User: authnv1.UserInfo{Username: "bob"}, ResponseStatus: &metav1.Status{Code: 200},
			RequestReceivedTimestamp: at, StageTimestamp: at,
			Annotations: map[string]string{"requestObject": `"mini-apiserver-requestObject"`}}
		ev.RequestObject = &runtime.Unknown{Raw: []byte(raw), ContentType: runtime.ContentTypeJSON}
		if i%2 == 0 {
			ev.ResponseObject = &runtime.Unknown{Raw: []byte(objects[(i+1)%len(objects)])}
		}
		events = append(events, ev)
	}
	var ours lineWriter
	var library bytes.Buffer
	NewBackend(&ours, auditv1.SchemeGroupVersion).ProcessEvents(events...)
	pluginlog.NewBackend(&library, pluginlog.FormatJson, auditv1.SchemeGroupVersion).ProcessEvents(events...)
	if got := string(bytes.Join(ours.calls, nil)); got != library.String() {
		t.Errorf("ours:\n%s\nthe library's:\n%s", got, library.String())
	}
	if ours.lines != len(events) {
		t.Errorf("%d of %d events streamed", ours.lines, len(events))
	}
}

// What cannot be streamed is encoded as the library does, errors and all:
// an object that is not JSON, invalid JSON, a small event.
func TestNotStreamedWhenItCannotBe(t *testing.T) {
	for name, obj := range map[string]*runtime.Unknown{
		"yaml":    {Raw: bytes.Repeat([]byte("a: b\n"), 20000), ContentType: "application/yaml"},
		"invalid": {Raw: bytes.Repeat([]byte("{"), 100000), ContentType: runtime.ContentTypeJSON},
		"small":   {Raw: []byte(`{"a":1}`)},
	} {
		t.Run(name, func(t *testing.T) {
			ev := &auditinternal.Event{Level: auditinternal.LevelRequest, AuditID: "a", Stage: auditinternal.StageResponseComplete, RequestObject: obj}
			var ours lineWriter
			var library bytes.Buffer
			okOurs := NewBackend(&ours, auditv1.SchemeGroupVersion).ProcessEvents(ev)
			okLibrary := pluginlog.NewBackend(&library, pluginlog.FormatJson, auditv1.SchemeGroupVersion).ProcessEvents(ev)
			if okOurs != okLibrary || string(bytes.Join(ours.calls, nil)) != library.String() {
				t.Errorf("ours: %v %q, the library's: %v %q", okOurs, bytes.Join(ours.calls, nil), okLibrary, library.String())
			}
			if ours.lines != 0 {
				t.Errorf("streamed %d lines", ours.lines)
			}
		})
	}
}

// inLineForm says when json.Compact and json.HTMLEscape would change
// src, and inLine gives what they give.
func FuzzInLine(f *testing.F) {
	// Each change alone (one is enough to make a copy), and none.
	for _, s := range []string{`{}`, ` [1, "a b" , {"<":"&>"}] `, "\"\u2028\\\"\u2029\"", `"\\\\" `, "{\"a\":\n\"\\u0041\"}",
		`"&"`, `"<"`, `">"`, "\"\u2028\"", "\"\u2029\"", `[1,2]`, `{"a":"b c \" d"}`, "[1,\t2]", "[1,\r2]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if !json.Valid(src) {
			return
		}
		var compact, want bytes.Buffer
		if err := json.Compact(&compact, src); err != nil {
			t.Fatal(err)
		}
		json.HTMLEscape(&want, compact.Bytes())
		if got, changes := inLineForm(src), want.String() != string(src); got == changes {
			t.Errorf("inLineForm(%q) = %v, but encoding/json makes it %q", src, got, want.String())
		}
		if got := inLine(src); string(got) != want.String() {
			t.Errorf("inLine(%q) = %q, want %q", src, got, want.String())
		}
	})
}
