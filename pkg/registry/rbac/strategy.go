package rbac

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// Strategy is the create/update strategy of an RBAC resource, as kube's
// pkg/registry/rbac/*/strategy.go: nothing is prepared, create on update
// and unconditional update are allowed (kubectl auth reconcile, apply), and
// validation is the resource's.
type Strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	Namespaced bool
	// Validator validates obj, on update against old (nil on create).
	Validator func(obj, old runtime.Object) field.ErrorList
}

func (s Strategy) NamespaceScoped() bool                                          { return s.Namespaced }
func (Strategy) AllowCreateOnUpdate(context.Context) bool                         { return true }
func (Strategy) AllowUnconditionalUpdate(context.Context) bool                    { return true }
func (Strategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (Strategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (Strategy) Canonicalize(runtime.Object)                                      {}
func (Strategy) WarningsOnCreate(context.Context, runtime.Object) []string        { return nil }
func (Strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (s Strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return s.Validator(obj, nil)
}

func (s Strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	errs := s.Validator(obj, old)
	m, err1 := meta.Accessor(obj)
	prev, err2 := meta.Accessor(old)
	if err1 != nil || err2 != nil {
		return append(errs, field.InternalError(field.NewPath("metadata"), err1))
	}
	return append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(m, prev, field.NewPath("metadata"))...)
}

// Resource describes one of the four RBAC resources for NewStore.
type Resource struct {
	Plural, Singular string
	New, NewList     func() runtime.Object
	Strategy         Strategy
	Table            table.Convertor
}

// NewStore returns the resource's store backed by optsGetter (etcd). The
// API serves it behind EscalationCheck (pkg/registry/rbac/rest).
func NewStore(r Resource, optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	store := &genericregistry.Store{
		NewFunc:                   r.New,
		NewListFunc:               r.NewList,
		DefaultQualifiedResource:  GroupResource(r.Plural),
		SingularQualifiedResource: GroupResource(r.Singular),
		CreateStrategy:            r.Strategy,
		UpdateStrategy:            r.Strategy,
		DeleteStrategy:            r.Strategy,
		TableConvertor:            r.Table,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return store, nil
}
