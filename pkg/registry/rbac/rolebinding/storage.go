// Package rolebinding serves rbac.authorization.k8s.io/v1 rolebindings
// (kube's pkg/registry/rbac/rolebinding).
package rolebinding

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac"
)

// NewStore returns the rolebindings store.
func NewStore(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	return rbac.NewStore(rbac.Resource{
		Plural: "rolebindings", Singular: "rolebinding",
		New:     func() runtime.Object { return &rbacv1.RoleBinding{} },
		NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
		Strategy: rbac.Strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, Namespaced: true,
			Validator: func(obj, old runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.RoleBinding)
				errs := rbac.ValidateRoleBinding(b)
				if old != nil {
					errs = append(errs, rbac.ValidateRoleRefUpdate(b.RoleRef, old.(*rbacv1.RoleBinding).RoleRef)...)
				}
				return errs
			}},
		Table: rbac.BindingTable,
	}, optsGetter)
}
