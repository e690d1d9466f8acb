package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// Bad requests, table-driven: each gets its status and message, leaves the
// server healthy, and is audited with its code.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  namespaces: [default]\n- level: None\n"),
		"--audit-log-path="+log)
	ctx := context.Background()
	client := s.Client()
	if _, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", "existing"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := "/api/v1/namespaces/default/pods"
	big := append([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"big","annotations":{"a":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	big = append(big, []byte(`"}},"spec":{"containers":[{"name":"c","image":"i"}]}}`)...)
	cases := []struct {
		name, method, path, contentType string
		body                            []byte
		code                            int32
		message                         string
	}{
		{"malformed JSON", "POST", pods, "application/json", []byte(`{"apiVersion":"v1",`), 400, "json"},
		{"malformed YAML", "POST", pods, "application/yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: [\n"), 400, "yaml"},
		{"malformed protobuf", "POST", pods, "application/vnd.kubernetes.protobuf", []byte("not a protobuf message"), 400, "provided data does not appear to be a protobuf message"},
		{"body over the size limit", "POST", pods, "application/json", big, 413, "Request entity too large: limit is 3145728"},
		{"wrong kind", "POST", pods, "application/json", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}`), 400, `Namespace in version "v1" cannot be handled as a Pod`},
		{"wrong apiVersion", "POST", pods, "application/json", []byte(`{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"x"}}`), 400, `no kind "Pod" is registered for version "apps/v1"`},
		{"invalid name", "POST", pods, "application/json", mustJSON(t, newPod("default", "Not_Valid")), 422, `Pod "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"`},
		{"name mismatch", "PUT", pods + "/existing", "application/json", mustJSON(t, newPod("default", "other")), 400, "the name of the object (other) does not match the name on the URL (existing)"},
		{"invalid strategic merge patch", "PATCH", pods + "/existing", "application/strategic-merge-patch+json", []byte(`{"metadata":`), 400, "invalid JSON patch"},
		{"invalid merge patch", "PATCH", pods + "/existing", "application/merge-patch+json", []byte(`[1,2`), 400, "invalid JSON patch"},
		{"invalid JSON patch", "PATCH", pods + "/existing", "application/json-patch+json", []byte(`[{"op":"frobnicate","path":"/x"}]`), 422, "the server rejected our request due to an error in our request"},
		{"failing JSON patch test", "PATCH", pods + "/existing", "application/json-patch+json", []byte(`[{"op":"test","path":"/metadata/name","value":"other"}]`), 422, "the server rejected our request due to an error in our request"},
		{"apply without field manager", "PATCH", pods + "/existing", "application/apply-patch+yaml", []byte("apiVersion: v1\nkind: Pod\n"), 422, `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`},
		{"unsupported patch type", "PATCH", pods + "/existing", "text/plain", []byte(`x`), 415, "415: Unsupported Media Type"},
		{"stale resourceVersion", "PUT", pods + "/existing", "application/json", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"existing","resourceVersion":"1"},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}`), 409, `Operation cannot be fulfilled on pods "existing": the object has been modified`},
		{"bad label selector", "GET", pods + "?labelSelector=a+in+(b", "", nil, 400, "unable to parse requirement"},
		{"unsupported field selector", "GET", pods + "?fieldSelector=spec.bogus%3Dx", "", nil, 400, "field label not supported: spec.bogus"},
		{"malformed field selector", "GET", pods + "?fieldSelector=metadata.name", "", nil, 400, "invalid selector"},
		{"bad limit", "GET", pods + "?limit=abc", "", nil, 400, `strconv.ParseInt: parsing "abc": invalid syntax`},
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", nil, 404, "the server could not find the requested resource"},
		{"method not allowed", "PUT", pods, "application/json", []byte(`{}`), 405, "the server does not allow this method on the requested resource"},
		{"missing object", "GET", pods + "/nope", "", nil, 404, `pods "nope" not found`},
		{"duplicate create", "POST", pods, "application/json", mustJSON(t, newPod("default", "existing")), 409, `pods "existing" already exists`},
	}
	transport, err := restTransport(s.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	for i, tc := range cases {
		id := fmt.Sprintf("bad-%02d", i)
		req, _ := http.NewRequest(tc.method, s.RESTConfig().Host+tc.path, bytes.NewReader(tc.body))
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		req.Header.Set("Audit-ID", id)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		// The message the user sees is the Status's (a plain body otherwise).
		message := body.String()
		var status metav1.Status
		if json.Unmarshal(body.Bytes(), &status) == nil && status.Message != "" {
			message = status.Message
		}
		if int32(resp.StatusCode) != tc.code || !strings.Contains(message, tc.message) {
			t.Errorf("%s: %d %s\nwant %d and %q", tc.name, resp.StatusCode, body.String(), tc.code, tc.message)
		}
		if _, err := client.Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx); err != nil {
			t.Fatalf("%s left the server unhealthy: %v", tc.name, err)
		}
	}
	// Each request is audited with its own code.
	events := waitStableEvents(t, log)
	byID := expect.ByAuditID(events)
	for i, tc := range cases {
		id := fmt.Sprintf("bad-%02d", i)
		var code int32
		for _, e := range byID[id] {
			if (e.Stage == auditv1.StageResponseComplete) && e.ResponseStatus != nil {
				code = e.ResponseStatus.Code
			}
		}
		if code != tc.code {
			t.Errorf("%s: audited ResponseComplete code %d, want %d", tc.name, code, tc.code)
		}
	}
}

func waitStableEvents(t *testing.T, log string) []auditv1.Event {
	t.Helper()
	var events []auditv1.Event
	waitStable(t, func() int {
		events, _ = expect.ReadFile(log)
		return len(events)
	})
	return events
}

// A watch from a compacted resourceVersion gets kube's 410 Gone, as an ERROR
// event of the watch stream.
func TestWatchTooOldResourceVersion(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--etcd-compaction-interval=1s", "--watch-cache=false")
	ctx := context.Background()
	pods := s.Client().CoreV1().Pods("default")
	first, err := pods.Create(ctx, newPod("default", "first"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := first.ResourceVersion
	// A watch from old reads etcd from the revision after it, so that one
	// must be compacted too: with old+1 as the compacted revision, the
	// watch would rightly start.
	rv, err := strconv.ParseInt(old, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	next := strconv.FormatInt(rv+1, 10)
	eventually(t, 60*time.Second, "the revision after the first pod's to be compacted", func() (bool, error) {
		if _, err := pods.Create(ctx, newPod("default", fmt.Sprintf("later-%d", time.Now().UnixNano())), metav1.CreateOptions{}); err != nil {
			return false, err
		}
		_, err := pods.List(ctx, metav1.ListOptions{ResourceVersion: next, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		return apierrors.IsResourceExpired(err) || apierrors.IsGone(err), err
	})
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: old})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		status, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || status.Code != http.StatusGone || !strings.Contains(status.Message, "The resourceVersion for the provided watch is too old.") {
			t.Errorf("watch from a compacted revision: %s %+v", ev.Type, ev.Object)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event from a watch at a compacted revision")
	}
}

// Many concurrent watches are served and released without harming the server.
func TestManyConcurrentWatches(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := s.Client().CoreV1().Pods("default")
	const watches = 300
	var wg sync.WaitGroup
	ws := make([]watch.Interface, watches)
	errs := make(chan error, watches)
	for i := 0; i < watches; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w, err := pods.Watch(ctx, metav1.ListOptions{})
			if err != nil {
				errs <- err
				return
			}
			ws[i] = w
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening a watch: %v", err)
	}
	if _, err := pods.Create(ctx, newPod("default", "seen-by-all"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Added {
				t.Errorf("watch %d: %s", i, ev.Type)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("watch %d saw nothing", i)
		}
		w.Stop()
	}
	if body, err := s.Client().Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx); err != nil || string(body) != "ok" {
		t.Errorf("after %d watches: %v %s", watches, err, body)
	}
}
