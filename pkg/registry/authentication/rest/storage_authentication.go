// Package rest is the authentication.k8s.io provider (kube's
// pkg/registry/authentication/rest/storage_authentication.go).
package rest

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/authentication/selfsubjectreview"
)

// RESTStorageProvider builds authentication.k8s.io/v1.
type RESTStorageProvider struct{}

// GroupName is authentication.k8s.io.
func (RESTStorageProvider) GroupName() string { return authenticationv1.GroupName }

// NewRESTStorage returns the enabled v1 resources; none is stored.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(authenticationv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"selfsubjectreviews": registry.Static("selfsubjectreviews", &selfsubjectreview.REST{}),
	})
}
