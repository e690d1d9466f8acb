package server

import (
	"context"
	"time"

	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/auth/rbac"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Identities of the server's built-in actors. The namespace controller
// acts as kube-controller-manager's does with per-controller credentials, so
// its requests read in audit as they would on a real cluster.
const (
	AdminUser               = "kubernetes-admin"
	NamespaceControllerUser = "system:serviceaccount:kube-system:namespace-controller"
	// ServiceAccountControllerUser creates each namespace's default
	// ServiceAccount, RootCAPublisherUser its kube-root-ca.crt ConfigMap:
	// kube-controller-manager's identities for them.
	ServiceAccountControllerUser = "system:serviceaccount:kube-system:service-account-controller"
	RootCAPublisherUser          = "system:serviceaccount:kube-system:root-ca-cert-publisher"
	// PolicyStatusControllerUser writes ValidatingAdmissionPolicies'
	// type-checking status.
	PolicyStatusControllerUser = "system:serviceaccount:kube-system:validatingadmissionpolicy-status-controller"
)

// controllerUsers are the in-process controllers' identities.
var controllerUsers = []string{NamespaceControllerUser, ServiceAccountControllerUser, RootCAPublisherUser, PolicyStatusControllerUser}

// SystemNamespaces exist from the first start and cannot be deleted.
var SystemNamespaces = []string{
	metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease,
}

// bootstrapNamespaces creates the system namespaces that do not exist, as
// kube-apiserver's system namespaces controller
// (pkg/controlplane/controller/systemnamespaces) does: what exists is read
// from the namespace informer, so a start on existing data makes no
// request. It blocks /readyz until they exist, so a ready server always has
// them.
func (s *Server) bootstrapNamespaces(ctx genericapiserver.PostStartHookContext) error {
	client, err := kubernetes.NewForConfig(s.config.Extra.background.loopbackConfig(ctx.LoopbackClientConfig))
	if err != nil {
		return err
	}
	namespaces := s.informers.namespaces
	// Quietly: /readyz says what start-up waits for.
	if !cache.WaitFor(ctx, "", namespaces.Informer().HasSyncedChecker()) {
		return ctx.Err()
	}
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, name := range SystemNamespaces {
			if _, err := namespaces.Lister().Get(name); err == nil {
				continue
			}
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				klog.V(2).InfoS("Creating system namespace, will retry", "namespace", name, "err", err)
				return false, nil
			}
		}
		return true, nil
	})
}

// bootstrapRBAC creates or reconciles kube's bootstrap ClusterRoles and
// ClusterRoleBindings (cluster-admin for system:masters, admin, edit, view,
// system:discovery, ...), retrying until storage answers, as
// kube-apiserver's rbac/bootstrap-roles hook.
func (s *Server) bootstrapRBAC(ctx genericapiserver.PostStartHookContext) error {
	client, err := rbacclient.NewForConfig(s.config.Extra.background.loopbackConfig(ctx.LoopbackClientConfig))
	if err != nil {
		return err
	}
	roles, bindings := s.informers.clusterRoles, s.informers.clusterRoleBindings
	if !cache.WaitFor(ctx, "", roles.Informer().HasSyncedChecker(), bindings.Informer().HasSyncedChecker()) {
		return ctx.Err()
	}
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := rbac.Reconcile(client, roles.Lister(), bindings.Lister()); err != nil {
			klog.V(2).InfoS("Reconciling bootstrap RBAC objects, will retry", "err", err)
			return false, nil
		}
		return true, nil
	})
}
