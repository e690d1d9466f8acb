package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/client/auditsinks"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// receiver is an HTTPS receiver for AuditSinks and the CA that trusts it.
type receiver struct {
	*sink.Sink
	ca []byte
}

func startReceiver(t *testing.T) receiver {
	t.Helper()
	r, hook, err := harness.StartTLSReceiver(false)
	mustDo(t, err)
	t.Cleanup(func() { r.Close() })
	return receiver{Sink: r, ca: hook.CAData}
}

// sinkFor is an AuditSink to r at level with the stages (all four when none).
func (r receiver) sinkFor(name string, level auditreg.Level, stages ...auditreg.Stage) *auditreg.AuditSink {
	return harness.NewAuditSink(name, r.Sink, r.ca, level, stages...)
}

// missingPodGet is the ResponseComplete event of the admin's get of a
// pod that does not exist (upstream's simpleOp).
func missingPodGet(level auditv1.Level, name string) expect.Event {
	return expect.Event{Level: level, Stage: auditv1.StageResponseComplete, Verb: "get", Code: 404,
		RequestURI: "/api/v1/namespaces/default/pods/" + name, User: "kubernetes-admin", Resource: "pods", Namespace: "default",
		Name: name, ResponseObject: level == auditv1.LevelRequestResponse, AuthorizeDecision: "allow"}
}

func auditSinks(t *testing.T, s *apiServer) *auditsinks.Client {
	t.Helper()
	c, err := s.AuditSinks()
	mustDo(t, err)
	return c
}

// createSinks creates the sinks and waits until each receiver gets events.
func createSinks(t *testing.T, s *apiServer, sinks ...*auditreg.AuditSink) {
	t.Helper()
	for _, as := range sinks {
		if _, err := auditSinks(t, s).Create(context.Background(), as); err != nil {
			t.Fatalf("create AuditSink %s: %v", as.Name, err)
		}
	}
}

func waitSinkRunning(t *testing.T, s *apiServer, receivers ...receiver) {
	t.Helper()
	for _, r := range receivers {
		mustDo(t, s.WaitForAuditSink(context.Background(), r.Sink))
	}
}

// Upstream's e2e case (test/e2e/auth/audit_dynamic.go, Kubernetes 1.18): a
// sink at RequestResponse with all four stages; create, get, watch, update,
// list, JSON patch and delete a pod with client-go, and a forbidden get
// as an impersonated anonymous user; the receiver gets each expected event.
func TestDynamicAuditUpstreamCases(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{DynamicAudit: true, Flags: []string{"--authorization-mode=RBAC"}})
	r := startReceiver(t)
	createSinks(t, s, r.sinkFor("test", auditreg.LevelRequestResponse))
	waitSinkRunning(t, s, r)

	ctx := context.Background()
	const ns = "default"
	pods := s.Client().CoreV1().Pods(ns)
	pod, err := pods.Create(ctx, newPod(ns, "audit-pod"), metav1.CreateOptions{})
	mustDo(t, err)
	_, err = pods.Get(ctx, "audit-pod", metav1.GetOptions{})
	mustDo(t, err)
	timeout := int64(1)
	w, err := pods.Watch(ctx, metav1.ListOptions{TimeoutSeconds: &timeout})
	mustDo(t, err)
	for range w.ResultChan() {
	}
	pod.Labels = map[string]string{"updated": "true"}
	_, err = pods.Update(ctx, pod, metav1.UpdateOptions{})
	mustDo(t, err)
	_, err = pods.List(ctx, metav1.ListOptions{})
	mustDo(t, err)
	_, err = pods.Patch(ctx, "audit-pod", types.JSONPatchType, []byte(`[{"op":"replace","path":"/metadata/labels/updated","value":"again"}]`), metav1.PatchOptions{})
	mustDo(t, err)
	mustDo(t, pods.Delete(ctx, "audit-pod", metav1.DeleteOptions{}))
	anonCfg := rest.CopyConfig(s.RESTConfig())
	anonCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:anonymous", Groups: []string{"system:unauthenticated"}}
	anon, err := kubernetes.NewForConfig(anonCfg)
	mustDo(t, err)
	if _, err := anon.CoreV1().Pods(ns).Get(ctx, "another-audit-pod", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("anonymous get: %v, want forbidden", err)
	}

	podURI, podsURI := "/api/v1/namespaces/default/pods/audit-pod", "/api/v1/namespaces/default/pods"
	watchURI := podsURI + "?timeout=1s&timeoutSeconds=1&watch=true"
	rr, admin := auditv1.LevelRequestResponse, "kubernetes-admin"
	event := func(stage auditv1.Stage, uri, verb string, code int32, req, resp bool) expect.Event {
		return expect.Event{Level: rr, Stage: stage, RequestURI: uri, Verb: verb, Code: code, User: admin, Resource: "pods",
			Namespace: ns, RequestObject: req, ResponseObject: resp, AuthorizeDecision: "allow"}
	}
	complete := auditv1.StageResponseComplete
	want := []expect.Event{
		event(complete, podsURI, "create", 201, true, true),
		event(complete, podURI, "get", 200, false, true),
		event(complete, podsURI, "list", 200, false, true),
		event(auditv1.StageResponseStarted, watchURI, "watch", 200, false, false),
		event(complete, watchURI, "watch", 200, false, false),
		event(complete, podURI, "update", 200, true, true),
		event(complete, podURI, "patch", 200, true, true),
		event(complete, podURI, "delete", 200, true, true),
		{Level: rr, Stage: complete, RequestURI: "/api/v1/namespaces/default/pods/another-audit-pod", Verb: "get", Code: 403,
			User: admin, ImpersonatedUser: "system:anonymous", Resource: "pods", Namespace: ns, ResponseObject: true, AuthorizeDecision: "forbid"},
	}
	events := waitForEvents(t, sinkReader(r.Sink), want)
	// RequestReceived comes too, for every request, and the sink has no
	// event of a stage it did not ask for.
	stages := map[auditv1.Stage]int{}
	for _, e := range events {
		stages[e.Stage]++
	}
	if stages[auditv1.StageRequestReceived] == 0 || len(stages) != 3 {
		t.Errorf("stages received: %v", stages)
	}
}

// Upstream's integration cases (test/integration/master/audit_dynamic_test.go):
// one sink; two sinks both receive; a deleted sink stops receiving; a sink
// retargeted under continuous traffic delivers to the first receiver and
// then the second, none missing, none twice.
func TestDynamicAuditSinkLifecycle(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{DynamicAudit: true})
	r1, r2 := startReceiver(t), startReceiver(t)
	ctx := context.Background()
	client := s.Client()
	// get is upstream's simpleOp: a missing pod, one expected event.
	get := func(name string) expect.Event {
		_, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("get %s: %v", name, err)
		}
		return missingPodGet(auditv1.LevelRequestResponse, name)
	}

	createSinks(t, s, r1.sinkFor("sink1", auditreg.LevelRequestResponse))
	waitSinkRunning(t, s, r1)
	waitForEvents(t, sinkReader(r1.Sink), []expect.Event{get("one-sink")})

	createSinks(t, s, r2.sinkFor("sink2", auditreg.LevelRequestResponse))
	waitSinkRunning(t, s, r2)
	both := get("two-sinks")
	waitForEvents(t, sinkReader(r1.Sink), []expect.Event{both})
	waitForEvents(t, sinkReader(r2.Sink), []expect.Event{both})

	mustDo(t, auditSinks(t, s).Delete(ctx, "sink2"))
	eventually(t, waitShort, "sink2 to be removed", func() (bool, error) {
		return strings.Contains(s.Stderr(), `"Audit sink removed" sink="sink2"`), nil
	})
	// The removed sink is drained (what it had, the delete's own events
	// among them, still arrives); requests after it reach only sink1.
	waitForEvents(t, sinkReader(r1.Sink), []expect.Event{get("after-delete")})
	for _, e := range r2.Events() {
		if strings.HasSuffix(e.RequestURI, "/after-delete") {
			t.Errorf("the deleted sink got %s %s", e.Stage, e.RequestURI)
		}
	}

	// Retarget sink1 to r2 under continuous traffic.
	r1start, r2start := len(r1.Events()), len(r2.Events())
	var (
		sent []expect.Event
		mu   sync.Mutex
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			e := get(fmt.Sprintf("retarget-%d", i))
			mu.Lock()
			sent = append(sent, e)
			mu.Unlock()
		}
	}()
	countAfter := func(r receiver, start int) func() (bool, error) {
		return func() (bool, error) {
			n := 0
			for _, e := range r.Events()[start:] {
				if strings.Contains(e.RequestURI, "/retarget-") {
					n++
				}
			}
			return n >= 20, nil
		}
	}
	eventually(t, waitShort, "20 events at the first receiver", countAfter(r1, r1start))
	current, err := auditSinks(t, s).Get(ctx, "sink1")
	mustDo(t, err)
	url := r2.URL() + "/audit"
	current.Spec.Webhook.ClientConfig.URL, current.Spec.Webhook.ClientConfig.CABundle = &url, r2.ca
	if _, err := auditSinks(t, s).Update(ctx, current); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitShort, "20 events at the second receiver", countAfter(r2, r2start))
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var got []auditv1.Event
	eventually(t, waitShort, "every request's event at one of the receivers", func() (bool, error) {
		got = nil
		for _, e := range append(r1.Events()[r1start:], r2.Events()[r2start:]...) {
			if strings.Contains(e.RequestURI, "/retarget-") && e.Stage == auditv1.StageResponseComplete {
				got = append(got, e)
			}
		}
		return expect.Check(got, sent).OK(), nil
	})
	if len(got) != len(sent) {
		seen := map[string]int{}
		for _, e := range got {
			seen[e.RequestURI]++
		}
		for uri, n := range seen {
			if n > 1 {
				t.Errorf("%s delivered %d times", uri, n)
			}
		}
		t.Errorf("%d requests, %d events", len(sent), len(got))
	}
}

// Each sink gets what its own policy asks: a Metadata sink with
// [ResponseComplete] only those, without bodies; a Request sink request
// bodies only.
func TestDynamicAuditSinkPolicies(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{DynamicAudit: true})
	meta, req := startReceiver(t), startReceiver(t)
	createSinks(t, s, meta.sinkFor("metadata", auditreg.LevelMetadata, auditreg.StageResponseComplete),
		req.sinkFor("request", auditreg.LevelRequest, auditreg.StageRequestReceived, auditreg.StageResponseComplete))
	waitSinkRunning(t, s, meta, req)
	_, err := s.Client().CoreV1().Pods("default").Create(context.Background(), newPod("default", "policed"), metav1.CreateOptions{})
	mustDo(t, err)
	create := func(level auditv1.Level, stage auditv1.Stage, req bool) expect.Event {
		e := expect.Event{Level: level, Stage: stage, Verb: "create", RequestURI: "/api/v1/namespaces/default/pods",
			User: "kubernetes-admin", Resource: "pods", Namespace: "default", RequestObject: req}
		if stage == auditv1.StageResponseComplete {
			e.Code, e.Name, e.AuthorizeDecision = 201, "policed", "allow"
		}
		return e
	}
	waitForEvents(t, sinkReader(meta.Sink), []expect.Event{create(auditv1.LevelMetadata, auditv1.StageResponseComplete, false)})
	waitForEvents(t, sinkReader(req.Sink), []expect.Event{create(auditv1.LevelRequest, auditv1.StageResponseComplete, true),
		create(auditv1.LevelRequest, auditv1.StageRequestReceived, false)})
	for _, e := range meta.Events() {
		if e.Stage != auditv1.StageResponseComplete || e.Level != auditv1.LevelMetadata || e.RequestObject != nil || e.ResponseObject != nil {
			t.Errorf("metadata sink got %s %s %s level %s request=%v response=%v", e.Verb, e.RequestURI, e.Stage, e.Level, e.RequestObject != nil, e.ResponseObject != nil)
		}
	}
	for _, e := range req.Events() {
		if e.Stage == auditv1.StageResponseStarted || e.Level != auditv1.LevelRequest || e.ResponseObject != nil {
			t.Errorf("request sink got %s %s %s level %s response=%v", e.Verb, e.RequestURI, e.Stage, e.Level, e.ResponseObject != nil)
		}
	}
}

// A sink's throttle (qps 1, burst 1) holds its batches to about one a
// second; every event still arrives, in larger batches.
func TestDynamicAuditSinkThrottle(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{DynamicAudit: true})
	r := startReceiver(t)
	throttled := r.sinkFor("throttled", auditreg.LevelMetadata, auditreg.StageResponseComplete)
	one := int64(1)
	throttled.Spec.Webhook.Throttle = &auditreg.WebhookThrottleConfig{QPS: &one, Burst: &one}
	createSinks(t, s, throttled)
	waitSinkRunning(t, s, r)
	start := len(r.Attempts())

	// 3 s of requests, one every 20 ms: unthrottled, a batch every 200 ms.
	client := s.Client()
	var want []expect.Event
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		name := fmt.Sprintf("throttled-%d", len(want))
		if _, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		want = append(want, missingPodGet(auditv1.LevelMetadata, name))
	}
	waitForEvents(t, sinkReader(r.Sink), want)
	attempts := r.Attempts()[start:]
	if len(attempts) < 2 {
		t.Fatalf("%d batches", len(attempts))
	}
	span := attempts[len(attempts)-1].Time.Sub(attempts[0].Time)
	if limit := int(span.Seconds()) + 2; len(attempts) > limit {
		t.Errorf("%d batches in %s: more than one a second (want at most %d)", len(attempts), span.Round(time.Millisecond), limit)
	}
	t.Logf("%d requests in %d batches over %s", len(want), len(attempts), span.Round(time.Millisecond))
}

// A sink that fails never fails nor slows a request: answering 500 it is
// retried with backoff and gets the batch; down, what it misses is counted
// per sink in /metrics and logged once, and it delivers again once up;
// slow, requests go on at their speed.
func TestDynamicAuditSinkFaults(t *testing.T) {
	t.Parallel()
	// A quiet server, kube's switches: without the identity Lease (renewed
	// every 10 s) and the MutatingAdmissionPolicy plugin (it reads
	// /openapi/v3 every 5 s), only the test's requests reach the sink; one
	// of theirs would be a batch beside the test's, failing or dropped in
	// its place.
	s := startServerOpts(t, harness.Options{DynamicAudit: true, Flags: []string{"--feature-gates=APIServerIdentity=false",
		"--disable-admission-plugins=MutatingAdmissionPolicy"}})
	r := startReceiver(t)
	createSinks(t, s, r.sinkFor("faulty", auditreg.LevelMetadata, auditreg.StageResponseComplete))
	waitSinkRunning(t, s, r)
	client := s.Client()
	get := func(name string) expect.Event {
		start := time.Now()
		_, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("get %s while the sink fails: %v", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("get %s took %s while the sink fails", name, d)
		}
		return missingPodGet(auditv1.LevelMetadata, name)
	}

	// 500 twice: the same batch is sent again after a backoff, and arrives.
	start := len(r.Attempts())
	r.FailNext(2, 500)
	waitForEvents(t, sinkReader(r.Sink), []expect.Event{get("after-500")})
	// The two 500s went to one batch, or to two when a batch of the
	// server's own requests (its identity Lease's renewal) was in flight
	// beside it: each failed batch is sent again after the backoff, until
	// delivered.
	byBatch := map[string][]sink.Attempt{}
	var batches []string
	for _, a := range r.Attempts()[start:] {
		if byBatch[a.Batch] == nil {
			batches = append(batches, a.Batch)
		}
		byBatch[a.Batch] = append(byBatch[a.Batch], a)
	}
	failures := 0
	for _, b := range batches {
		as := byBatch[b]
		if as[0].Status != 500 {
			continue
		}
		var statuses []int
		for i, a := range as {
			statuses = append(statuses, a.Status)
			if a.Status == 500 {
				failures++
			}
			if i > 0 {
				if gap := a.Time.Sub(as[i-1].Time); gap < 300*time.Millisecond {
					t.Errorf("batch %s retried after %s, want the backoff (500 ms, jitter 0.2)", b, gap)
				}
			}
		}
		if statuses[len(statuses)-1] != 200 {
			t.Errorf("batch %s: deliveries %v, want 500s then 200", b, statuses)
		}
	}
	if failures != 2 {
		t.Errorf("%d deliveries answered 500, want 2: %+v", failures, r.Attempts()[start:])
	}

	// Slow: a 3 s answer holds the sink's batch, not the requests (each
	// takes well under 2 s). Shorter than the 5 s Down gives deliveries in
	// flight to finish.
	r.SetLatency(3 * time.Second)
	var slow []expect.Event
	for i := range 5 {
		slow = append(slow, get(fmt.Sprintf("while-slow-%d", i)))
	}
	r.SetLatency(0)
	// Every slow delivery has arrived before the sink goes down: a batch of
	// them still being sent then would fail and be counted, and the drop
	// below could be that batch while the one of "while-down" is delivered
	// after Up.
	waitForEvents(t, sinkReader(r.Sink), slow)

	// Down: refused deliveries are counted and logged, requests go on.
	mustDo(t, r.Down())
	dropped := `apiserver_audit_dynamic_dropped_events_total{sink="faulty",reason="delivery_failed"}`
	dropLog := `"Audit sink is dropping events (counted in apiserver_audit_dynamic_dropped_events_total)" sink="faulty" reason="delivery_failed"`
	logged := strings.Count(s.Stderr(), dropLog)
	get("while-down")
	// Waited for in the log, not /metrics: each read of /metrics is a
	// request the sink would get too, a batch that could be dropped before
	// the one of "while-down", which would then be delivered after Up.
	eventually(t, waitShort, "the drop to be logged", func() (bool, error) {
		return strings.Count(s.Stderr(), dropLog) > logged, nil
	})
	if n := metric(t, s, dropped); n < 1 {
		t.Errorf("the drop was logged but not counted: %v", n)
	}
	mustDo(t, r.Up())
	waitForEvents(t, sinkReader(r.Sink), []expect.Event{get("after-up")})
	eventually(t, waitShort, "the recovery to be logged", func() (bool, error) {
		return strings.Contains(s.Stderr(), `"Audit sink delivers again" sink="faulty"`), nil
	})
	for _, e := range r.Events() {
		if strings.HasSuffix(e.RequestURI, "/while-down") {
			t.Errorf("an event counted as dropped arrived: %s", e.RequestURI)
		}
	}
}

// Two servers on one external etcd follow the same sinks: a sink created
// through one receives the events of both.
func TestDynamicAuditSinkTwoServers(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	a := startServerOpts(t, harness.Options{DynamicAudit: true, Flags: []string{"--etcd-servers=" + etcd.URL()}})
	b := startServerOpts(t, harness.Options{DynamicAudit: true, Flags: []string{"--etcd-servers=" + etcd.URL()}})
	r := startReceiver(t)
	createSinks(t, a, r.sinkFor("shared", auditreg.LevelMetadata, auditreg.StageResponseComplete))
	waitSinkRunning(t, a, r)
	waitSinkRunning(t, b, r)
	var want []expect.Event
	for name, s := range map[string]*apiServer{"via-a": a, "via-b": b} {
		if _, err := s.Client().CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		want = append(want, missingPodGet(auditv1.LevelMetadata, name))
	}
	waitForEvents(t, sinkReader(r.Sink), want)
	mustDo(t, auditSinks(t, b).Delete(context.Background(), "shared"))
	for _, s := range []*apiServer{a, b} {
		eventually(t, waitShort, "the sink removed on both servers", func() (bool, error) {
			return strings.Contains(s.Stderr(), `"Audit sink removed" sink="shared"`), nil
		})
	}
}

// SIGTERM drains every sink: events waiting for their batch (here for an
// hour) are delivered before the process exits.
func TestDynamicAuditSinkDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{DynamicAudit: true, Flags: []string{"--audit-dynamic-batch-max-wait=1h"}})
	r := startReceiver(t)
	createSinks(t, s, r.sinkFor("draining", auditreg.LevelMetadata, auditreg.StageResponseComplete))
	eventually(t, waitShort, "the sink to run", func() (bool, error) {
		return strings.Contains(s.Stderr(), `"Audit sink running" sink="draining"`), nil
	})
	_, err := s.Client().CoreV1().Pods("default").Create(context.Background(), newPod("default", "drained"), metav1.CreateOptions{})
	mustDo(t, err)
	if n := len(r.Events()); n != 0 {
		t.Fatalf("%d events arrived before their batch was due", n)
	}
	mustDo(t, s.Stop())
	report := expect.Check(r.Events(), []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create",
		Code: 201, RequestURI: "/api/v1/namespaces/default/pods", User: "kubernetes-admin", Resource: "pods", Namespace: "default",
		Name: "drained", AuthorizeDecision: "allow"}})
	if !report.OK() {
		t.Errorf("after SIGTERM: %s", report)
	}
}
