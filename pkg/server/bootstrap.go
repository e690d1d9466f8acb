package server

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Identities of the server's built-in actors. The namespace controller
// acts as kube-controller-manager's does with per-controller credentials, so
// its requests read in audit as they would on a real cluster.
const (
	AdminUser               = "kubernetes-admin"
	NamespaceControllerUser = "system:serviceaccount:kube-system:namespace-controller"
)

// SystemNamespaces exist from the first start and cannot be deleted.
var SystemNamespaces = []string{
	metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease,
}

// bootstrapNamespaces creates the system namespaces. It blocks /readyz until
// they exist, so a ready server always has them.
func (s *Server) bootstrapNamespaces(ctx genericapiserver.PostStartHookContext) error {
	client, err := kubernetes.NewForConfig(ctx.LoopbackClientConfig)
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, name := range SystemNamespaces {
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				klog.V(2).InfoS("Creating system namespace, will retry", "namespace", name, "err", err)
				return false, nil
			}
		}
		return true, nil
	})
}
