package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
