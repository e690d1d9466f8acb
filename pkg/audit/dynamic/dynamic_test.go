package dynamic

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	pluginbuffered "k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/utils/ptr"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	receiversink "github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// receiver is a real HTTPS audit sink with its own CA.
func receiver(t *testing.T) (*receiversink.Sink, []byte) {
	t.Helper()
	ca, err := pki.NewCA("receiver-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := pki.NewSigned(ca, pki.ServingTemplate("receiver", nil, []net.IP{net.ParseIP("127.0.0.1")}))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := receiversink.Start(receiversink.Options{TLS: receiversink.ClientCATLS(cert, nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ca.CertPEM
}

func auditSink(uid, name, url string, ca []byte, level auditreg.Level, stages ...auditreg.Stage) *auditreg.AuditSink {
	s := &auditreg.AuditSink{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid)}, Spec: auditreg.AuditSinkSpec{
		Policy:  auditreg.Policy{Level: level, Stages: stages},
		Webhook: auditreg.Webhook{ClientConfig: auditreg.WebhookClientConfig{URL: ptr.To(url), CABundle: ca}},
	}}
	auditreg.SetDefaultsAuditSink(s)
	return s
}

var n int

func event(stage auditinternal.Stage) *auditinternal.Event {
	n++
	return &auditinternal.Event{Level: auditinternal.LevelRequestResponse, Stage: stage, AuditID: types.UID(fmt.Sprintf("id-%d", n)),
		Verb: "create", RequestURI: "/api/v1/namespaces/default/pods",
		RequestObject:  &runtime.Unknown{Raw: []byte(`{"kind":"Pod"}`), ContentType: runtime.ContentTypeJSON},
		ResponseObject: &runtime.Unknown{Raw: []byte(`{"kind":"Pod"}`), ContentType: runtime.ContentTypeJSON},
		StageTimestamp: metav1.NewMicroTime(time.Now())}
}

func waitFor(t *testing.T, s *receiversink.Sink, what string, cond func([]auditv1.Event) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func newRunning(t *testing.T, batch pluginbuffered.BatchConfig) *Backend {
	t.Helper()
	b, err := NewBackend(&batch)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	if err := b.Run(stop); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(stop); b.Shutdown() })
	return b
}

func fastBatch() pluginbuffered.BatchConfig {
	c := DefaultBatchConfig()
	c.MaxBatchWait = 20 * time.Millisecond
	return c
}

// Each sink gets what its own policy asks for; a retargeted sink moves to
// its new receiver with nothing lost or sent twice; a deleted one stops.
func TestSinksPolicyRetargetDelete(t *testing.T) {
	first, ca1 := receiver(t)
	second, ca2 := receiver(t)
	b := newRunning(t, fastBatch())
	if err := b.Set(auditSink("1", "meta", first.URL()+"/audit", ca1, auditreg.LevelMetadata, auditreg.StageResponseComplete)); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(auditSink("2", "request", second.URL()+"/audit", ca2, auditreg.LevelRequest, auditreg.StageRequestReceived, auditreg.StageResponseComplete)); err != nil {
		t.Fatal(err)
	}
	b.ProcessEvents(event(auditinternal.StageRequestReceived), event(auditinternal.StageResponseComplete))
	waitFor(t, first, "the Metadata sink's event", func(evs []auditv1.Event) bool { return len(evs) == 1 })
	waitFor(t, second, "the Request sink's events", func(evs []auditv1.Event) bool { return len(evs) == 2 })
	if e := first.Events()[0]; e.Stage != auditv1.StageResponseComplete || e.Level != auditv1.LevelMetadata || e.RequestObject != nil || e.ResponseObject != nil {
		t.Errorf("Metadata sink got %s %s request=%v response=%v", e.Stage, e.Level, e.RequestObject != nil, e.ResponseObject != nil)
	}
	for _, e := range second.Events() {
		if e.Level != auditv1.LevelRequest || e.RequestObject == nil || e.ResponseObject != nil {
			t.Errorf("Request sink got %s request=%v response=%v", e.Level, e.RequestObject != nil, e.ResponseObject != nil)
		}
	}

	// Retarget sink 1 to the second receiver under a stream of events.
	for i := range 200 {
		b.ProcessEvents(event(auditinternal.StageResponseComplete))
		if i == 100 {
			if err := b.Set(auditSink("1", "meta", second.URL()+"/audit", ca2, auditreg.LevelMetadata, auditreg.StageResponseComplete)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// first: 1 + the events before the switch; second: its own 2 + 200 + the
	// rest of sink 1's. Every one of the 200 reached sink 1's receivers once.
	waitFor(t, second, "the stream at the second receiver", func(evs []auditv1.Event) bool {
		return len(first.Events())-1+len(evs)-2-200 == 200
	})
	seen := map[string]int{}
	for _, e := range append(first.Events()[1:], second.Events()...) {
		if e.Level == auditv1.LevelMetadata {
			seen[string(e.AuditID)]++
		}
	}
	if len(seen) != 200 {
		t.Errorf("sink 1 delivered %d distinct events of the 200", len(seen))
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}

	b.Delete("2")
	b.Delete("1")
	if b.Len() != 0 {
		t.Errorf("sinks left: %v", b.Names())
	}
	orphan := event(auditinternal.StageResponseComplete)
	b.ProcessEvents(orphan)
	// A new sink, then a marker: once the marker is there, the event sent
	// while no sink existed would have been too.
	if err := b.Set(auditSink("3", "again", second.URL()+"/audit", ca2, auditreg.LevelMetadata, auditreg.StageResponseComplete)); err != nil {
		t.Fatal(err)
	}
	marker := event(auditinternal.StageResponseComplete)
	b.ProcessEvents(marker)
	waitFor(t, second, "the marker", func(evs []auditv1.Event) bool {
		for _, e := range evs {
			if e.AuditID == marker.AuditID {
				return true
			}
		}
		return false
	})
	for _, e := range second.Events() {
		if e.AuditID == orphan.AuditID {
			t.Errorf("an event sent after the sinks were deleted was delivered")
		}
	}
}

// A receiver that is down: its events are dropped after the retries and
// counted for that sink; a full buffer is counted too.
func TestDropsAreCountedPerSink(t *testing.T) {
	down, ca := receiver(t)
	url := down.URL() + "/audit"
	mustDo(t, down.Close())
	batch := fastBatch()
	batch.BufferSize = 5
	b := newRunning(t, batch)
	if err := b.Set(auditSink("9", "down", url, ca, auditreg.LevelMetadata, auditreg.StageResponseComplete)); err != nil {
		t.Fatal(err)
	}
	counts := func() (float64, float64) {
		full, _ := testutil.GetCounterMetricValue(droppedEvents.WithLabelValues("down", reasonBuffer))
		failed, _ := testutil.GetCounterMetricValue(droppedEvents.WithLabelValues("down", reasonDelivery))
		return full, failed
	}
	full0, failed0 := counts()
	for range 50 {
		b.ProcessEvents(event(auditinternal.StageResponseComplete))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		full, failed := counts()
		full, failed = full-full0, failed-failed0
		if full+failed == 50 {
			if full == 0 || failed == 0 {
				t.Errorf("buffer_full %v, delivery_failed %v: want both", full, failed)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped %v (buffer) + %v (delivery) of 50 events", full, failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
