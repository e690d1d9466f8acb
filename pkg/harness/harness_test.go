package harness_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

const metadataPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
`

func TestHarnessAuditsToLogAndWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := harness.Start(ctx, harness.Options{Policy: metadataPolicy, Webhook: true, Flags: []string{"--audit-webhook-mode=blocking"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageRequestReceived, RequestURI: "/api/v1/namespaces/default/pods", Verb: "create",
			User: "kubernetes-admin", Resource: "pods", Namespace: "default"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/pods", Verb: "create",
			Code: 201, User: "kubernetes-admin", Resource: "pods", Namespace: "default", Name: "p", AuthorizeDecision: "allow"},
	}
	logged, err := srv.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	if r := expect.Check(logged, want); !r.OK() {
		t.Errorf("log: %s", r)
	}
	// Blocking mode: the events are at the sink before the response.
	if r := expect.Check(srv.Sink().Events(), want); !r.OK() {
		t.Errorf("webhook: %s", r)
	}
}

// A handler that panics produces a Panic-stage event with code 500.
func TestHarnessPanicStage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := harness.Start(ctx, harness.Options{
		Policy: metadataPolicy,
		WrapHandler: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/pods/boom") {
					panic("boom")
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	// As in kube-apiserver, the panic is recovered, audited and the
	// connection aborted: the client sees a stream error, not a response.
	if _, err = client.CoreV1().Pods("default").Get(ctx, "boom", metav1.GetOptions{}); err == nil {
		t.Fatalf("get of the panicking path succeeded")
	}
	want := []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageRequestReceived, RequestURI: "/api/v1/namespaces/default/pods/boom", Verb: "get",
			User: "kubernetes-admin", Resource: "pods", Namespace: "default", Name: "boom"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StagePanic, RequestURI: "/api/v1/namespaces/default/pods/boom", Verb: "get",
			Code: 500, User: "kubernetes-admin", Resource: "pods", Namespace: "default", Name: "boom", AuthorizeDecision: "allow"},
	}
	var events []auditv1.Event
	deadline := time.Now().Add(30 * time.Second)
	for {
		if events, err = srv.AuditEvents(); err != nil {
			t.Fatal(err)
		}
		if expect.Check(events, want).OK() || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := expect.Check(events, want); !r.OK() {
		t.Errorf("%s", r)
	}
}

// BenchmarkStart measures Start to ready (fresh data dir, embedded etcd).
func BenchmarkStart(b *testing.B) {
	// Keep the server's logs out of the benchmark's output.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	defer klog.LogToStderr(true)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		srv, err := harness.Start(ctx, harness.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := srv.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
