package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
)

// eventKeys maps "auditID/stage" to how often it occurs.
func eventKeys(events []auditv1.Event) map[string]int {
	keys := map[string]int{}
	for _, e := range events {
		keys[string(e.AuditID)+"/"+string(e.Stage)]++
	}
	return keys
}

func waitForCount(t *testing.T, s *sink.Sink, n int) []auditv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, func(e []auditv1.Event) bool { return len(e) >= n }); err != nil {
		t.Fatal(err)
	}
	return s.Events()
}

func TestAuditWebhookBatch(t *testing.T) {
	t.Parallel()
	snk := startSink(t, true) // the sink requires the client certificate from the kubeconfig
	logPath := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("wh", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-batch-max-size=5", "--audit-webhook-batch-max-wait=500ms",
		"--audit-log-path="+logPath)
	createNamespace(t, s.Client(), "wh")
	before := metric(t, s, "apiserver_audit_event_total")
	createPods(t, s.Client(), "wh", 40, 4, 0)

	events := waitForCount(t, snk.Sink, 80)
	keys := eventKeys(events)
	if len(events) != 80 || len(keys) != 80 {
		t.Errorf("%d events (%d distinct), want 80 delivered once each", len(events), len(keys))
	}
	for _, a := range snk.Attempts() {
		if a.Status != http.StatusOK || a.Events > 5 {
			t.Errorf("attempt %+v: want 200 and at most 5 events (--audit-webhook-batch-max-size)", a)
		}
	}
	// The log backend got the same events.
	var logged []auditv1.Event
	eventually(t, 30*time.Second, "80 logged events", func() (bool, error) {
		var err error
		logged, err = expect.ReadFile(logPath)
		return len(logged) == 80, err
	})
	for k := range eventKeys(logged) {
		if keys[k] != 1 {
			t.Errorf("logged event %s delivered %d times to the webhook", k, keys[k])
		}
	}
	if got := metric(t, s, "apiserver_audit_event_total") - before; got != 80 {
		t.Errorf("apiserver_audit_event_total moved by %v, want 80", got)
	}
	// One per request, not per event.
	if got := metric(t, s, `apiserver_audit_level_total{level="Metadata"}`); got != 40 {
		t.Errorf(`apiserver_audit_level_total{level="Metadata"} = %v, want 40`, got)
	}
	if got := metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`); got != 0 {
		t.Errorf(`apiserver_audit_error_total{plugin="webhook"} = %v, want 0`, got)
	}

	// A lone request's events leave within --audit-webhook-batch-max-wait.
	start := time.Now()
	if _, err := s.Client().CoreV1().Pods("wh").Get(context.Background(), "pod-0000", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, snk.Sink, 82)
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond+time.Second {
		t.Errorf("events of a single request arrived after %s, want within max-wait 500ms (+1s slack)", elapsed)
	}
}

func TestAuditWebhookBlocking(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-mode=blocking")
	snk.SetLatency(200 * time.Millisecond)
	ctx := context.Background()
	for i, id := range []string{"blocking-1", "blocking-2", "blocking-3"} {
		err := s.Client().CoreV1().RESTClient().Get().Namespace("default").Resource("pods").SetHeader("Audit-ID", id).Do(ctx).Error()
		if err != nil {
			t.Fatal(err)
		}
		// No waiting: in blocking mode RequestReceived is delivered before
		// the handler runs, so before the response.
		keys := eventKeys(snk.Events())
		if keys[id+"/RequestReceived"] != 1 {
			t.Fatalf("request %d: RequestReceived not at the sink when the response arrived (have %v)", i, keys)
		}
	}
}

func TestAuditWebhookBlockingStrict(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-mode=blocking-strict", "--audit-webhook-initial-backoff=10ms")
	ctx := context.Background()
	pods := s.Client().CoreV1().Pods("default")
	rejectedBefore := metric(t, s, "apiserver_audit_requests_rejected_total")

	if err := snk.Down(); err != nil {
		t.Fatal(err)
	}
	_, err := pods.Create(ctx, newPod("default", "unaudited"), metav1.CreateOptions{})
	// kube's audit filter answers 500 with a plain-text body.
	if status, ok := err.(apierrors.APIStatus); !ok || status.Status().Code != http.StatusInternalServerError ||
		!strings.Contains(status.Status().Message, `Internal Server Error: \"/api/v1/namespaces/default/pods\": failed to store audit event`) {
		t.Fatalf("create with the sink down: %v, want 500 failed to store audit event", err)
	}
	if got := metric(t, s, "apiserver_audit_requests_rejected_total") - rejectedBefore; got != 1 {
		t.Errorf("apiserver_audit_requests_rejected_total moved by %v, want 1", got)
	}
	if got := metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`); got < 1 {
		t.Errorf(`apiserver_audit_error_total{plugin="webhook"} = %v, want >= 1`, got)
	}

	if err := snk.Up(); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "unaudited", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the refused create was stored: %v", err)
	}
	if _, err := pods.Create(ctx, newPod("default", "audited"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with the sink back: %v", err)
	}
	want := []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", RequestURI: "/api/v1/namespaces/default/pods",
		Code: 201, User: "kubernetes-admin", Resource: "pods", Namespace: "default", Name: "audited", AuthorizeDecision: "allow"}}
	waitForEvents(t, sinkReader(snk.Sink), want)
}

func TestAuditWebhookBackoff(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	const initial = 200 * time.Millisecond
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-mode=blocking", "--audit-webhook-initial-backoff="+initial.String())
	const failures = 3
	snk.FailNext(failures, http.StatusServiceUnavailable)
	err := s.Client().CoreV1().RESTClient().Get().Namespace("default").Resource("pods").SetHeader("Audit-ID", "backoff-1").Do(context.Background()).Error()
	if err != nil {
		t.Fatal(err)
	}
	events := waitForCount(t, snk.Sink, 2)
	attempts := snk.Attempts()
	if len(attempts) < failures+2 {
		t.Fatalf("%d attempts, want %d failures then successes: %+v", len(attempts), failures, attempts)
	}
	// Gaps between attempts for the first event: initial, x1.5, x1.5^2, each
	// stretched by up to 20% jitter.
	d := initial
	for i := 1; i <= failures; i++ {
		gap := attempts[i].Time.Sub(attempts[i-1].Time)
		lo, hi := d-20*time.Millisecond, time.Duration(float64(d)*1.2)+250*time.Millisecond
		if gap < lo || gap > hi {
			t.Errorf("gap %d = %s, want within [%s, %s]", i, gap, lo, hi)
		}
		d = time.Duration(float64(d) * 1.5)
	}
	for i, a := range attempts {
		wantStatus := http.StatusServiceUnavailable
		if i >= failures {
			wantStatus = http.StatusOK
		}
		if a.Status != wantStatus {
			t.Errorf("attempt %d status %d, want %d", i, a.Status, wantStatus)
		}
		if i <= failures && a.Batch != "backoff-1/RequestReceived" {
			t.Errorf("attempt %d carried batch %q, want the retried RequestReceived event", i, a.Batch)
		}
	}
	keys := eventKeys(events)
	if keys["backoff-1/RequestReceived"] != 1 || keys["backoff-1/ResponseComplete"] != 1 || len(events) != 2 {
		t.Errorf("events delivered %v, want each stage exactly once", keys)
	}
}

func TestAuditShutdownDeliversBufferedEvents(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("drain", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-batch-max-wait=1h", "--audit-webhook-batch-max-size=10000",
		"--audit-log-path="+logPath, "--audit-log-mode=batch", "--audit-log-batch-max-wait=1h", "--audit-log-batch-max-size=10000")
	createNamespace(t, s.Client(), "drain")
	createPods(t, s.Client(), "drain", 30, 4, 0)
	if n := len(snk.Events()); n != 0 {
		t.Fatalf("%d events delivered before shutdown; the batch should hold them", n)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if n := len(snk.Events()); n != 60 {
		t.Errorf("webhook: %d events after shutdown, want 60", n)
	}
	logged, err := expect.ReadFile(logPath)
	if err != nil || len(logged) != 60 {
		t.Errorf("log: %d events after shutdown (%v), want 60", len(logged), err)
	}
}

// When the batch buffer is full the library drops events; they are counted in
// apiserver_audit_error_total{plugin="buffered"} (the batching layer) and
// logged, never lost silently.
func TestAuditWebhookDropsAreCounted(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("full", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-batch-buffer-size=2", "--audit-webhook-batch-max-size=1",
		"--audit-webhook-batch-throttle-qps=1", "--audit-webhook-batch-throttle-burst=1")
	createNamespace(t, s.Client(), "full")
	snk.SetLatency(500 * time.Millisecond)
	createPods(t, s.Client(), "full", 20, 4, 0)
	dropped := metric(t, s, `apiserver_audit_error_total{plugin="buffered"}`)
	if dropped == 0 {
		t.Fatal("no dropped events counted with a full buffer")
	}
	if !regexpMatch(`Error in audit plugin 'buffered' affecting \d+ audit events: audit buffer queue blocked`, s.Stderr()) {
		t.Errorf("drops not logged:\n%s", s.Stderr())
	}
	// Every event either arrives or is counted.
	eventually(t, 60*time.Second, "delivered + dropped = 40", func() (bool, error) {
		return float64(len(snk.Events()))+dropped == 40, nil
	})
}
