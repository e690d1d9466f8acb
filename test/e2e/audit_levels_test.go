package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

const levelsPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  namespaces: ["lvl-none"]
- level: Metadata
  namespaces: ["lvl-metadata"]
- level: Request
  namespaces: ["lvl-request"]
- level: RequestResponse
  namespaces: ["lvl-requestresponse"]
`

// exerciseVerbs runs create, get, list, watch, update, patch, delete and
// deletecollection on pods in ns.
func exerciseVerbs(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	pods := client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, newPod(ns, "audited"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := pods.Get(ctx, "audited", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, TimeoutSeconds: ptr.To[int64](1)})
	if err != nil {
		t.Fatal(err)
	}
	for range w.ResultChan() {
	}
	pod.Labels = map[string]string{"updated": "yes"}
	if _, err := pods.Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Patch(ctx, "audited", types.MergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "audited", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

// verbExpectations is the table of what each level records for each verb
// of exerciseVerbs, in the style of Kubernetes' audit integration test.
func verbExpectations(level auditv1.Level, ns, watchURI string) []expect.Event {
	request := level == auditv1.LevelRequest || level == auditv1.LevelRequestResponse
	response := level == auditv1.LevelRequestResponse
	base := "/api/v1/namespaces/" + ns + "/pods"
	type call struct {
		verb, uri       string
		code            int32
		reqObj, respObj bool
		longRunning     bool
	}
	calls := []call{
		{"create", base, http.StatusCreated, request, response, false},
		{"get", base + "/audited", http.StatusOK, false, response, false},
		{"list", base, http.StatusOK, false, response, false},
		{"watch", watchURI, http.StatusOK, false, false, true},
		{"update", base + "/audited", http.StatusOK, request, response, false},
		{"patch", base + "/audited", http.StatusOK, request, response, false},
		{"delete", base + "/audited", http.StatusOK, request, response, false},
		{"deletecollection", base, http.StatusOK, request, response, false},
	}
	var want []expect.Event
	for _, c := range calls {
		e := expect.Event{Level: level, RequestURI: c.uri, Verb: c.verb, User: "kubernetes-admin", Resource: "pods", Namespace: ns}
		received := e
		received.Stage = auditv1.StageRequestReceived
		want = append(want, received)
		if c.longRunning {
			started := e
			started.Stage, started.Code, started.AuthorizeDecision = auditv1.StageResponseStarted, c.code, "allow"
			want = append(want, started)
		}
		complete := e
		complete.Stage, complete.Code, complete.AuthorizeDecision = auditv1.StageResponseComplete, c.code, "allow"
		complete.RequestObject, complete.ResponseObject = c.reqObj, c.respObj
		want = append(want, complete)
	}
	return want
}

func TestAuditLevelsAndVerbs(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, levelsPolicy), "--audit-log-path="+logPath)
	client := s.Client()
	levels := map[string]auditv1.Level{
		"lvl-none": auditv1.LevelNone, "lvl-metadata": auditv1.LevelMetadata,
		"lvl-request": auditv1.LevelRequest, "lvl-requestresponse": auditv1.LevelRequestResponse,
	}
	for ns := range levels {
		if _, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		exerciseVerbs(t, client, ns)
	}
	var all []expect.Event
	for ns, level := range levels {
		if level == auditv1.LevelNone {
			continue
		}
		all = append(all, verbExpectations(level, ns, "")...)
	}
	events := waitForEvents(t, logReader(logPath), withoutWatchURI(all))
	for ns, level := range levels {
		var got []auditv1.Event
		for _, e := range events {
			if e.ObjectRef != nil && e.ObjectRef.Resource == "pods" && e.ObjectRef.Namespace == ns {
				got = append(got, e)
			}
		}
		want := verbExpectations(level, ns, watchURIOf(got))
		if level == auditv1.LevelNone {
			want = nil
		}
		if len(got) != len(want) {
			t.Errorf("level %s: %d pod events, want exactly %d", level, len(got), len(want))
		}
		if r := expect.Check(got, want); !r.OK() {
			t.Errorf("level %s: %s", level, r)
		}
		for _, e := range got {
			if e.Stage == auditv1.StageRequestReceived && (e.RequestObject != nil || e.ResponseObject != nil) {
				t.Errorf("RequestReceived event with an object: %+v", e)
			}
		}
	}
}

// watchURIOf finds the watch request URI among events (it carries the
// client's query parameters).
func watchURIOf(events []auditv1.Event) string {
	for _, e := range events {
		if e.Verb == "watch" {
			return e.RequestURI
		}
	}
	return ""
}

func withoutWatchURI(want []expect.Event) []expect.Event {
	var out []expect.Event
	for _, w := range want {
		if w.Verb != "watch" {
			out = append(out, w)
		}
	}
	return out
}
