// Package rest is the core (legacy, /api) group's provider (kube's
// pkg/registry/core/rest/storage_core.go).
package rest

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/configmap"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/namespace"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/pod"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/secret"
)

// RESTStorageProvider builds core/v1.
type RESTStorageProvider struct{}

// GroupName is the core group's, "".
func (RESTStorageProvider) GroupName() string { return corev1.GroupName }

// NewRESTStorage returns the enabled v1 resources with their subresources.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(corev1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"pods": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := pod.NewStorage(api.Scheme, optsGetter)
			return map[string]rest.Storage{"pods": s.Pod, "pods/status": s.Status}, err
		},
		"configmaps": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := configmap.NewStorage(optsGetter)
			return map[string]rest.Storage{"configmaps": s}, err
		},
		"secrets": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := secret.NewStorage(optsGetter)
			return map[string]rest.Storage{"secrets": s}, err
		},
		"namespaces": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := namespace.NewStorage(api.Scheme, optsGetter)
			return map[string]rest.Storage{"namespaces": s.Namespace, "namespaces/status": s.Status, "namespaces/finalize": s.Finalize}, err
		},
	})
}
