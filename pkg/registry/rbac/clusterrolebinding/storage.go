// Package clusterrolebinding serves rbac.authorization.k8s.io/v1
// clusterrolebindings (kube's pkg/registry/rbac/clusterrolebinding).
package clusterrolebinding

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac"
)

// NewStore returns the clusterrolebindings store.
func NewStore(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	return rbac.NewStore(rbac.Resource{
		Plural: "clusterrolebindings", Singular: "clusterrolebinding",
		New:     func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		Strategy: rbac.Strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator,
			Validator: func(obj, old runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.ClusterRoleBinding)
				errs := rbac.ValidateClusterRoleBinding(b)
				if old != nil {
					errs = append(errs, rbac.ValidateRoleRefUpdate(b.RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)...)
				}
				return errs
			}},
		Table: rbac.BindingTable,
	}, optsGetter)
}
