// Package rest is the coordination.k8s.io provider (kube's
// pkg/registry/coordination/rest/storage_coordination.go).
package rest

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/coordination/lease"
)

// RESTStorageProvider builds coordination.k8s.io/v1.
type RESTStorageProvider struct{}

// GroupName is coordination.k8s.io.
func (RESTStorageProvider) GroupName() string { return coordinationv1.GroupName }

// NewRESTStorage returns the enabled v1 resources.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(coordinationv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"leases": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := lease.NewStorage(optsGetter)
			return map[string]rest.Storage{"leases": s}, err
		},
	})
}
