// Package rest assembles rbac.authorization.k8s.io/v1 (kube's
// pkg/registry/rbac/rest): the four stores behind their escalation checks,
// which resolve rules from storage, not caches, so that a role just
// written counts at once.
package rest

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	rbacauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/rbac"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac/clusterrole"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac/clusterrolebinding"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac/role"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac/rolebinding"
)

// NewStorage returns the v1 resources, keyed by resource name.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, authz authorizer.Authorizer) (map[string]rest.Storage, error) {
	var s stores
	var err error
	if s.roles, err = role.NewStore(scheme, optsGetter); err != nil {
		return nil, err
	}
	if s.roleBindings, err = rolebinding.NewStore(scheme, optsGetter); err != nil {
		return nil, err
	}
	if s.clusterRoles, err = clusterrole.NewStore(scheme, optsGetter); err != nil {
		return nil, err
	}
	if s.clusterRoleBindings, err = clusterrolebinding.NewStore(scheme, optsGetter); err != nil {
		return nil, err
	}
	resolver := &rbacauth.Resolver{Roles: s, RoleBindings: s, ClusterRoles: s, ClusterRoleBindings: s}
	checked := func(store *genericregistry.Store) rest.Storage {
		return &rbac.EscalationCheck{Store: store, Authorizer: authz, Resolver: resolver}
	}
	return map[string]rest.Storage{
		"roles":               checked(s.roles),
		"rolebindings":        checked(s.roleBindings),
		"clusterroles":        checked(s.clusterRoles),
		"clusterrolebindings": checked(s.clusterRoleBindings),
	}, nil
}

// stores reads roles and bindings from storage for the escalation checks
// (kube's AuthorizerAdapter of each registry).
type stores struct {
	roles, roleBindings, clusterRoles, clusterRoleBindings *genericregistry.Store
}

func (s stores) GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error) {
	obj, err := s.roles.Get(genericapirequest.WithNamespace(ctx, namespace), name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*rbacv1.Role), nil
}

func (s stores) ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	obj, err := s.roleBindings.List(genericapirequest.WithNamespace(ctx, namespace), &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*rbacv1.RoleBinding
	for i := range obj.(*rbacv1.RoleBindingList).Items {
		out = append(out, &obj.(*rbacv1.RoleBindingList).Items[i])
	}
	return out, nil
}

func (s stores) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	obj, err := s.clusterRoles.Get(genericapirequest.WithNamespace(ctx, ""), name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*rbacv1.ClusterRole), nil
}

func (s stores) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	obj, err := s.clusterRoleBindings.List(genericapirequest.WithNamespace(ctx, ""), &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*rbacv1.ClusterRoleBinding
	for i := range obj.(*rbacv1.ClusterRoleBindingList).Items {
		out = append(out, &obj.(*rbacv1.ClusterRoleBindingList).Items[i])
	}
	return out, nil
}
