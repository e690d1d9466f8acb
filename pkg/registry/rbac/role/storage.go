// Package role serves rbac.authorization.k8s.io/v1 roles (kube's
// pkg/registry/rbac/role).
package role

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac"
)

// NewStore returns the roles store.
func NewStore(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	return rbac.NewStore(rbac.Resource{
		Plural: "roles", Singular: "role",
		New:     func() runtime.Object { return &rbacv1.Role{} },
		NewList: func() runtime.Object { return &rbacv1.RoleList{} },
		Strategy: rbac.Strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, Namespaced: true,
			Validator: func(obj, _ runtime.Object) field.ErrorList { return rbac.ValidateRole(obj.(*rbacv1.Role)) }},
		Table: rbac.RoleTable,
	}, optsGetter)
}
