// Package clusterrole serves rbac.authorization.k8s.io/v1 clusterroles
// (kube's pkg/registry/rbac/clusterrole).
package clusterrole

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac"
)

// NewStore returns the clusterroles store.
func NewStore(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	return rbac.NewStore(rbac.Resource{
		Plural: "clusterroles", Singular: "clusterrole",
		New:     func() runtime.Object { return &rbacv1.ClusterRole{} },
		NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		Strategy: rbac.Strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator,
			Validator: func(obj, old runtime.Object) field.ErrorList {
				// A stored selector today's validation rejects stays updatable.
				allowInvalid := old != nil && rbac.HasInvalidLabelValueInSelector(old.(*rbacv1.ClusterRole))
				return rbac.ValidateClusterRole(obj.(*rbacv1.ClusterRole), allowInvalid)
			}},
		Table: rbac.RoleTable,
	}, optsGetter)
}
