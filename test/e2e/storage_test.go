package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func TestRestartKeepsObjects(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, "--data-dir="+dataDir)
	ctx := context.Background()
	if _, err := s.Client().CoreV1().Pods("default").Create(ctx, newPod("default", "survivor"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(s.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("SIGTERM: exit %v\n%s", err, s.Stderr())
	}

	s2 := startServer(t, "--data-dir="+dataDir)
	pod, err := s2.Client().CoreV1().Pods("default").Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pod after restart: %v", err)
	}
	if pod.Spec.Containers[0].Image != "busybox:1.36" {
		t.Errorf("pod after restart: %+v", pod.Spec)
	}
	// Certificates and the admin credential are reused: the old kubeconfig
	// differs at most in the server port.
	kubeconfig2, err := os.ReadFile(s2.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.ReplaceAll(kubeconfig, []byte(fmt.Sprintf(":%d", s.Port())), []byte(fmt.Sprintf(":%d", s2.Port())))
	if !bytes.Equal(old, kubeconfig2) {
		t.Errorf("admin kubeconfig changed across restart:\n%s\n---\n%s", kubeconfig, kubeconfig2)
	}
}

func TestExternalEtcd(t *testing.T) {
	t.Parallel()
	etcdURL := startEtcd(t).URL()
	a := startServer(t, "--etcd-servers="+etcdURL)
	b := startServer(t, "--etcd-servers="+etcdURL)
	ctx := context.Background()

	if _, err := os.Stat(filepath.Join(a.DataDir(), "etcd")); !os.IsNotExist(err) {
		t.Errorf("an embedded etcd was started despite --etcd-servers: %v", err)
	}
	if _, err := a.Client().CoreV1().Pods("default").Create(ctx, newPod("default", "shared"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := b.Client().CoreV1().Pods("default").Get(ctx, "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read through the second server: %v", err)
	}
	if pod.Spec.Containers[0].Image != "busybox:1.36" {
		t.Errorf("pod via b: %+v", pod.Spec)
	}

	c, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, key := range []string{"/registry/pods/default/shared", "/registry/namespaces/kube-system"} {
		resp, err := c.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 {
			t.Fatalf("key %s not in etcd", key)
		}
		// Stored as kube-apiserver stores it: protobuf with the "k8s\x00" magic.
		if !bytes.HasPrefix(resp.Kvs[0].Value, []byte("k8s\x00")) {
			t.Errorf("key %s is not kube protobuf: %q", key, resp.Kvs[0].Value[:16])
		}
	}

	t.Run("custom prefix", func(t *testing.T) {
		p := startServer(t, "--etcd-servers="+etcdURL, "--etcd-prefix=/other")
		if _, err := p.Client().CoreV1().Pods("default").Get(ctx, "shared", metav1.GetOptions{}); err == nil {
			t.Errorf("a server with --etcd-prefix=/other sees the /registry pod")
		}
		if _, err := p.Client().CoreV1().Pods("default").Create(ctx, newPod("default", "prefixed"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Get(ctx, "/other/pods/default/prefixed")
		if err != nil || len(resp.Kvs) != 1 {
			t.Errorf("key /other/pods/default/prefixed: %v %v", resp, err)
		}
	})
}

// The server's own informers start with a streaming watch-list, as
// kube-apiserver 1.37's do: its start writes one watch of pods into the
// audit trail, not a list of every pod page by page (each page a
// RequestResponse event at that level).
func TestStartStreamsItsInformers(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"})
	ctx := context.Background()
	client := s.Client()
	// More pods than a list's page (client-go's reflector asks for 500).
	var g errgroup.Group
	g.SetLimit(8)
	for i := range 510 {
		g.Go(func() error {
			_, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", fmt.Sprintf("p-%d", i)), metav1.CreateOptions{})
			return err
		})
	}
	mustDo(t, g.Wait())
	// Stopped first: the old server's informers re-watch as their watches
	// end at shutdown.
	mustDo(t, s.Signal(syscall.SIGTERM))
	<-s.Done()
	restarted := time.Now()
	mustDo(t, s.Restart(ctx))
	events, err := s.AuditEvents()
	mustDo(t, err)
	var bytes int
	var podWatches []string
	for _, e := range events {
		if e.User.Username != "system:apiserver" || e.StageTimestamp.Time.Before(restarted) {
			continue
		}
		line, err := json.Marshal(e)
		mustDo(t, err)
		bytes += len(line)
		if e.Verb == "list" {
			t.Errorf("the server's start lists %s (%s): kube-apiserver's informers stream", e.ObjectRef.Resource, e.RequestURI)
		}
		if e.Verb == "watch" && e.ObjectRef.Resource == "pods" && e.Stage == auditv1.StageResponseStarted {
			podWatches = append(podWatches, e.RequestURI)
		}
	}
	for _, uri := range podWatches {
		if !strings.Contains(uri, "sendInitialEvents=true") {
			t.Errorf("the server's watch of pods at start %q is not a watch-list (sendInitialEvents=true)", uri)
		}
	}
	if len(podWatches) == 0 {
		t.Error("the server's start has no watch of pods")
	}
	// 510 pods at RequestResponse are some 600 KB; the start's own events
	// are a few dozen.
	if bytes > 100_000 {
		t.Errorf("the server's start wrote %d bytes of its own audit events", bytes)
	}
	t.Logf("the server's own audit events since the restart: %d bytes", bytes)
}
