package pod

import (
	"net/http"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// REST serves /api/v1/namespaces/{ns}/pods.
type REST struct {
	*genericregistry.Store
}

// Storage holds the pod resource and its subresources.
type Storage struct {
	Pod                 *REST
	Status              *registry.StatusSubresource
	Binding             *BindingREST
	LegacyBinding       *LegacyBindingREST
	Eviction            *EvictionREST
	EphemeralContainers rest.Storage
	Resize              rest.Storage
	Log                 *LogREST
	Exec                *StreamREST
	Attach              *StreamREST
	PortForward         *StreamREST
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
		Status:              registry.NewStatusSubresource(&statusStore),
		Binding:             binding,
		LegacyBinding:       &LegacyBindingREST{binding: binding},
		Eviction:            &EvictionREST{store: &statusStore},
		EphemeralContainers: &registry.UpdateSubresource{Store: &ephemeralStore},
		Resize:              &registry.UpdateSubresource{Store: &resizeStore},
		Log:                 &LogREST{store: store},
		Exec:                newExecREST(store, authz),
		Attach:              newAttachREST(store, authz),
		PortForward:         newPortForwardREST(store, authz),
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
