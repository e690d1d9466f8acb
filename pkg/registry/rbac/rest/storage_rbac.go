// Package rest is the rbac.authorization.k8s.io provider (kube's
// pkg/registry/rbac/rest/storage_rbac.go): the four stores behind their
// escalation checks, which resolve rules from storage, not caches, so that
// a role just written counts at once.
package rest

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	rbacauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/rbac"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac"
)

// RESTStorageProvider builds rbac.authorization.k8s.io/v1. Authorizer is
// what the escalation checks ask whether a user may bind or escalate.
type RESTStorageProvider struct {
	Authorizer authorizer.Authorizer
}

// GroupName is rbac.authorization.k8s.io.
func (RESTStorageProvider) GroupName() string { return rbacv1.GroupName }

// NewRESTStorage returns the enabled v1 resources. The four stores are
// built when any is served: the escalation check of each reads the others.
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	gv := rbacv1.SchemeGroupVersion
	if !source.AnyResourceForGroupEnabled(gv.Group) {
		return registry.NewAPIGroupInfo(gv, source, optsGetter, nil)
	}
	var s stores
	var err error
	for _, r := range []struct {
		store    **genericregistry.Store
		resource rbac.Resource
	}{
		{&s.roles, roles}, {&s.roleBindings, roleBindings}, {&s.clusterRoles, clusterRoles}, {&s.clusterRoleBindings, clusterRoleBindings},
	} {
		if *r.store, err = rbac.NewStore(r.resource, optsGetter); err != nil {
			return genericapiserver.APIGroupInfo{}, err
		}
	}
	resolver := &rbacauth.Resolver{Roles: s, RoleBindings: s, ClusterRoles: s, ClusterRoleBindings: s}
	checked := func(resource string, store *genericregistry.Store) registry.StorageFunc {
		return registry.Static(resource, &rbac.EscalationCheck{Store: store, Authorizer: p.Authorizer, Resolver: resolver})
	}
	return registry.NewAPIGroupInfo(gv, source, optsGetter, map[string]registry.StorageFunc{
		"roles":               checked("roles", s.roles),
		"rolebindings":        checked("rolebindings", s.roleBindings),
		"clusterroles":        checked("clusterroles", s.clusterRoles),
		"clusterrolebindings": checked("clusterrolebindings", s.clusterRoleBindings),
	})
}

// The four resources, each with its validation (kube's
// pkg/registry/rbac/<resource>/strategy.go).
var (
	roles = rbac.Resource{
		Plural: "roles", Singular: "role",
		New:     func() runtime.Object { return &rbacv1.Role{} },
		NewList: func() runtime.Object { return &rbacv1.RoleList{} },
		Strategy: rbac.Strategy{ObjectTyper: api.Scheme, NameGenerator: names.SimpleNameGenerator, Namespaced: true,
			Validator: func(obj, _ runtime.Object) field.ErrorList { return rbac.ValidateRole(obj.(*rbacv1.Role)) }},
		Table: rbac.RoleTable,
	}
	roleBindings = rbac.Resource{
		Plural: "rolebindings", Singular: "rolebinding",
		New:     func() runtime.Object { return &rbacv1.RoleBinding{} },
		NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
		Strategy: rbac.Strategy{ObjectTyper: api.Scheme, NameGenerator: names.SimpleNameGenerator, Namespaced: true,
			Validator: func(obj, old runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.RoleBinding)
				errs := rbac.ValidateRoleBinding(b)
				if old != nil {
					errs = append(errs, rbac.ValidateRoleRefUpdate(b.RoleRef, old.(*rbacv1.RoleBinding).RoleRef)...)
				}
				return errs
			}},
		Table: rbac.BindingTable,
	}
	clusterRoles = rbac.Resource{
		Plural: "clusterroles", Singular: "clusterrole",
		New:     func() runtime.Object { return &rbacv1.ClusterRole{} },
		NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		Strategy: rbac.Strategy{ObjectTyper: api.Scheme, NameGenerator: names.SimpleNameGenerator,
			Validator: func(obj, old runtime.Object) field.ErrorList {
				// A stored selector today's validation rejects stays updatable.
				allowInvalid := old != nil && rbac.HasInvalidLabelValueInSelector(old.(*rbacv1.ClusterRole))
				return rbac.ValidateClusterRole(obj.(*rbacv1.ClusterRole), allowInvalid)
			}},
		Table: rbac.RoleTable,
	}
	clusterRoleBindings = rbac.Resource{
		Plural: "clusterrolebindings", Singular: "clusterrolebinding",
		New:     func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		Strategy: rbac.Strategy{ObjectTyper: api.Scheme, NameGenerator: names.SimpleNameGenerator,
			Validator: func(obj, old runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.ClusterRoleBinding)
				errs := rbac.ValidateClusterRoleBinding(b)
				if old != nil {
					errs = append(errs, rbac.ValidateRoleRefUpdate(b.RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)...)
				}
				return errs
			}},
		Table: rbac.BindingTable,
	}
)

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
