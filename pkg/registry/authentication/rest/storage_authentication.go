// Package rest is the authentication.k8s.io provider (kube's
// pkg/registry/authentication/rest/storage_authentication.go).
package rest

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/authentication/selfsubjectreview"
)

// RESTStorageProvider builds authentication.k8s.io/v1.
type RESTStorageProvider struct{}

// GroupName is authentication.k8s.io.
func (RESTStorageProvider) GroupName() string { return authenticationv1.GroupName }

// NewRESTStorage returns the enabled v1 resources; none is stored.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, _ generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	info := genericapiserver.NewDefaultAPIGroupInfo(authenticationv1.GroupName, api.Scheme, api.ParameterCodec, api.Codecs)
	v1 := authenticationv1.SchemeGroupVersion
	storage := map[string]rest.Storage{}
	if source.ResourceEnabled(v1.WithResource("selfsubjectreviews")) {
		storage["selfsubjectreviews"] = &selfsubjectreview.REST{}
	}
	if len(storage) > 0 {
		info.VersionedResourcesStorageMap[v1.Version] = storage
	}
	return info, nil
}
