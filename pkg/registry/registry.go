// Package registry holds what the API group providers under
// pkg/registry/<group>/rest share: one group version's resources built as
// --runtime-config enables them.
package registry

import (
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/internal/presized"
	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

// StorageFunc builds one resource's storage: the resource and its
// subresources, keyed as they are installed ("pods", "pods/status").
type StorageFunc func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error)

// NewAPIGroupInfo builds the resources of gv that source enables (a
// resource's subresources with it), on the server's scheme, as kube's
// providers check ResourceEnabled before they build a store. A group with
// none enabled has no versions and is not installed. Its serializer writes
// the audit event's copy of a response in one buffer of the copy's size
// (package presized).
func NewAPIGroupInfo(gv schema.GroupVersion, source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter,
	resources map[string]StorageFunc) (genericapiserver.APIGroupInfo, error) {
	info := genericapiserver.NewDefaultAPIGroupInfo(gv.Group, api.Scheme, api.ParameterCodec, api.Codecs)
	info.NegotiatedSerializer = presized.NewNegotiatedSerializer(info.NegotiatedSerializer)
	storage := map[string]rest.Storage{}
	for resource, build := range resources {
		if !source.ResourceEnabled(gv.WithResource(resource)) {
			continue
		}
		m, err := build(optsGetter)
		if err != nil {
			return info, fmt.Errorf("%s: %w", gv.WithResource(resource), err)
		}
		maps.Copy(storage, m)
	}
	if len(storage) > 0 {
		info.VersionedResourcesStorageMap[gv.Version] = storage
	}
	return info, nil
}

// Static is a StorageFunc for storage that needs no etcd (reviews) or
// was built already.
func Static(resource string, s rest.Storage) StorageFunc {
	return func(generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
		return map[string]rest.Storage{resource: s}, nil
	}
}
