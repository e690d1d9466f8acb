package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// UpdateSubresource is a subresource that reads its resource and updates
// it through a copy of the resource's store with the subresource's update
// strategy (kube writes one such type per subresource: pods/ephemeralcontainers,
// pods/resize, ...). It never creates; the resource's store owns the
// storage.
type UpdateSubresource struct {
	Store *genericregistry.Store
}

var _ rest.Patcher = &UpdateSubresource{}

func (r *UpdateSubresource) New() runtime.Object { return r.Store.New() }
func (r *UpdateSubresource) Destroy()            {}

func (r *UpdateSubresource) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.Store.Get(ctx, name, options)
}

func (r *UpdateSubresource) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.Store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// StatusSubresource is an UpdateSubresource that also says which fields its
// strategy resets and prints tables: a status subresource (and
// namespaces/finalize).
type StatusSubresource struct {
	UpdateSubresource
}

// NewStatusSubresource serves store, a copy of the resource's with the
// subresource's strategies.
func NewStatusSubresource(store *genericregistry.Store) *StatusSubresource {
	return &StatusSubresource{UpdateSubresource{Store: store}}
}

func (r *StatusSubresource) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.Store.GetResetFields()
}

func (r *StatusSubresource) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.Store.ConvertToTable(ctx, object, tableOptions)
}
