// Package rest is the apps provider (kube's
// pkg/registry/apps/rest/storage_apps.go), with deployments only: no
// controller here turns them into ReplicaSets and pods.
package rest

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/apps/deployment"
)

// RESTStorageProvider builds apps/v1.
type RESTStorageProvider struct{}

// GroupName is apps.
func (RESTStorageProvider) GroupName() string { return appsv1.GroupName }

// NewRESTStorage returns the enabled v1 resources with their subresources.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(appsv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"deployments": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := deployment.NewStorage(optsGetter)
			return map[string]rest.Storage{"deployments": s.Deployment, "deployments/status": s.Status, "deployments/scale": s.Scale}, err
		},
	})
}
