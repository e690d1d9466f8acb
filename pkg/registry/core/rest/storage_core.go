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
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/namespace"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/pod"
)

// RESTStorageProvider builds core/v1.
type RESTStorageProvider struct{}

// GroupName is the core group's, "".
func (RESTStorageProvider) GroupName() string { return corev1.GroupName }

// NewRESTStorage returns the enabled v1 resources with their subresources.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	info := genericapiserver.NewDefaultAPIGroupInfo(corev1.GroupName, api.Scheme, api.ParameterCodec, api.Codecs)
	v1 := corev1.SchemeGroupVersion
	storage := map[string]rest.Storage{}
	if source.ResourceEnabled(v1.WithResource("pods")) {
		s, err := pod.NewStorage(api.Scheme, optsGetter)
		if err != nil {
			return info, err
		}
		storage["pods"], storage["pods/status"] = s.Pod, s.Status
	}
	if source.ResourceEnabled(v1.WithResource("namespaces")) {
		s, err := namespace.NewStorage(api.Scheme, optsGetter)
		if err != nil {
			return info, err
		}
		storage["namespaces"], storage["namespaces/status"], storage["namespaces/finalize"] = s.Namespace, s.Status, s.Finalize
	}
	if len(storage) > 0 {
		info.VersionedResourcesStorageMap[v1.Version] = storage
	}
	return info, nil
}
