package pod

import (
	"context"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// REST serves /api/v1/namespaces/{ns}/pods.
type REST struct {
	*genericregistry.Store
}

// StatusREST serves /api/v1/namespaces/{ns}/pods/{name}/status.
type StatusREST struct {
	store *genericregistry.Store
}

// Storage holds the pod resource and its subresources.
type Storage struct {
	Pod                 *REST
	Status              *StatusREST
	Binding             *BindingREST
	LegacyBinding       *LegacyBindingREST
	Eviction            *EvictionREST
	EphemeralContainers rest.Storage
	Resize              rest.Storage
	Log                 *LogREST
	Exec                *ExecREST
	Attach              *AttachREST
	PortForward         *PortForwardREST
	Proxy               *ProxyREST
}

// NewStorage returns pod storage backed by optsGetter (etcd); authz is
// asked again for "create" on a WebSocket exec, attach or portforward.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, authz authorizer.Authorizer) (Storage, error) {
	strategy := NewStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.Pod{} },
		NewListFunc:               func() runtime.Object { return &corev1.PodList{} },
		PredicateFunc:             MatchPod,
		DefaultQualifiedResource:  corev1.Resource("pods"),
		SingularQualifiedResource: corev1.Resource("pod"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,
		ReturnDeletedObject: true,

		TableConvertor: TableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: GetAttrs}); err != nil {
		return Storage{}, err
	}
	statusStore := *store
	statusStrategy := NewStatusStrategy(strategy)
	statusStore.UpdateStrategy = statusStrategy
	statusStore.ResetFieldsStrategy = statusStrategy
	ephemeralStore := *store
	ephemeralStore.UpdateStrategy = ephemeralContainersStrategy{strategy}
	ephemeralStore.ResetFieldsStrategy = nil
	resizeStore := *store
	resizeStore.UpdateStrategy = resizeStrategy{strategy}
	resizeStore.ResetFieldsStrategy = nil
	binding := &BindingREST{store: store}
	return Storage{
		Pod:                 &REST{store},
		Status:              &StatusREST{store: &statusStore},
		Binding:             binding,
		LegacyBinding:       &LegacyBindingREST{binding: binding},
		Eviction:            &EvictionREST{store: &statusStore},
		EphemeralContainers: &updateREST{store: &ephemeralStore},
		Resize:              &updateREST{store: &resizeStore},
		Log:                 &LogREST{store: store},
		Exec:                &ExecREST{store: store, authorizer: authz},
		Attach:              &AttachREST{store: store, authorizer: authz},
		PortForward:         &PortForwardREST{store: store, authorizer: authz},
		Proxy:               &ProxyREST{store: store, transport: http.DefaultTransport},
	}, nil
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames implements rest.ShortNamesProvider.
func (*REST) ShortNames() []string { return []string{"po"} }

// Categories implements rest.CategoriesProvider.
func (*REST) Categories() []string { return []string{"all"} }

func (r *StatusREST) New() runtime.Object { return &corev1.Pod{} }

// Destroy is a no-op: the main store owns the storage.
func (r *StatusREST) Destroy() {}

func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// Subresources never create.
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

func (r *StatusREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}
