package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// wantStatus asserts an API error's HTTP code and full message.
func wantStatus(t *testing.T, err error, code int32, message string) {
	t.Helper()
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("want API error %d %q, got %v", code, message, err)
	}
	if got := status.Status(); got.Code != code || got.Message != message {
		t.Errorf("got %d %q, want %d %q", got.Code, got.Message, code, message)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx := context.Background()

	t.Run("system namespaces exist and cannot be deleted", func(t *testing.T) {
		for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace %s: %v", name, err)
			}
			if ns.Status.Phase != corev1.NamespaceActive || ns.Labels["kubernetes.io/metadata.name"] != name ||
				len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != "kubernetes" {
				t.Errorf("namespace %s: phase %s labels %v finalizers %v", name, ns.Status.Phase, ns.Labels, ns.Spec.Finalizers)
			}
			err = client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
			wantStatus(t, err, http.StatusForbidden, `namespaces "`+name+`" is forbidden: this namespace may not be deleted`)
		}
	})

	t.Run("pod in a missing namespace", func(t *testing.T) {
		_, err := client.CoreV1().Pods("missing").Create(ctx, newPod("missing", "p"), metav1.CreateOptions{})
		wantStatus(t, err, http.StatusNotFound, `namespaces "missing" not found`)
		stderr := s.KubectlFail("", "run", "p", "--image=nginx", "-n", "missing")
		if stderr != "Error from server (NotFound): namespaces \"missing\" not found\n" {
			t.Errorf("kubectl: %q", stderr)
		}
	})

	t.Run("delete empties then removes a namespace", func(t *testing.T) {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a", "b", "c"} {
			if _, err := client.CoreV1().Pods("gone").Create(ctx, newPod("gone", name), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := client.CoreV1().Namespaces().Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "namespace gone to be removed", func() (bool, error) {
			_, err := client.CoreV1().Namespaces().Get(ctx, "gone", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		pods, err := client.CoreV1().Pods("gone").List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 0 {
			t.Errorf("pods left in removed namespace: %v %v", pods, err)
		}
	})

	t.Run("terminating namespace refuses new content", func(t *testing.T) {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "term"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A pod bound to a node is deleted gracefully: with no kubelet to
		// confirm, it stays Terminating and holds the namespace open.
		stuck := newPod("term", "stuck")
		stuck.Spec.NodeName = "node-1"
		if _, err := client.CoreV1().Pods("term").Create(ctx, stuck, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := client.CoreV1().Namespaces().Delete(ctx, "term", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ns, err := client.CoreV1().Namespaces().Get(ctx, "term", metav1.GetOptions{})
		if err != nil || ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
			t.Fatalf("after delete: %+v %v", ns, err)
		}
		if out := s.Kubectl("get", "ns", "term", "--no-headers"); !regexpMatch(`^term\s+Terminating\s+\d+s\n$`, out) {
			t.Errorf("kubectl get ns: %q", out)
		}
		_, err = client.CoreV1().Pods("term").Create(ctx, newPod("term", "late"), metav1.CreateOptions{})
		wantStatus(t, err, http.StatusForbidden, `pods "late" is forbidden: unable to create new content in namespace term because it is being terminated`)

		eventually(t, 30*time.Second, "the controller to delete the stuck pod gracefully", func() (bool, error) {
			p, err := client.CoreV1().Pods("term").Get(ctx, "stuck", metav1.GetOptions{})
			return err == nil && p.DeletionTimestamp != nil, err
		})
		// What a kubelet would do once the containers stopped.
		if err := client.CoreV1().Pods("term").Delete(ctx, "stuck", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "namespace term to be removed", func() (bool, error) {
			_, err := client.CoreV1().Namespaces().Get(ctx, "term", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	})
}
