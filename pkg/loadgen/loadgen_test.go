package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// Every op runs error-free against a real server and does what it says.
func TestOps(t *testing.T) {
	srv, err := harness.Start(context.Background(), harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	client, err := Client(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "load"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, op := range Ops {
		r, err := Run(ctx, client, Options{Op: op, Concurrency: 3, Duration: 300 * time.Millisecond, ObjectSize: 64, Namespace: "load", Pool: 10})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		t.Log(r)
		if r.Requests == 0 || r.Errors != 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: %s", op, r)
		}
		if op == "watch" && r.Requests%3 != 0 {
			t.Errorf("watch: %d events for 3 watchers: each write must reach every watcher", r.Requests)
		}
	}
	pod, err := client.CoreV1().Pods("load").Get(ctx, "pool-00001", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Labels["seq"] == "" || pod.Annotations[sentAnnotation] == "" {
		t.Errorf("pool-00001 was not updated by update and watch: labels %v", pod.Labels)
	}
	if pod.Annotations["padding"] == "" {
		t.Errorf("update dropped the padding")
	}

	// A rate cap holds: 3 workers at 20 req/s for a second make about 20 gets.
	r, err := Run(ctx, client, Options{Op: "get", Concurrency: 3, Duration: time.Second, Namespace: "load", Pool: 10, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 15 || r.Requests > 22 {
		t.Errorf("rate 20/s for 1s made %d requests", r.Requests)
	}
}

func TestUnknownOp(t *testing.T) {
	if _, err := Run(context.Background(), nil, Options{Op: "bogus", Concurrency: 1, Duration: time.Second}); err == nil || !strings.Contains(err.Error(), `unknown op "bogus"`) {
		t.Errorf("unknown op: %v", err)
	}
}
