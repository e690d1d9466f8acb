// Package rest is the auditregistration.k8s.io provider (kube 1.13-1.18's
// pkg/registry/auditregistration/rest/storage_auditregistration.go).
package rest

import (
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/auditregistration/auditsink"
)

// RESTStorageProvider builds auditregistration.k8s.io/v1alpha1.
type RESTStorageProvider struct{}

// GroupName is auditregistration.k8s.io.
func (RESTStorageProvider) GroupName() string { return auditreg.GroupName }

// NewRESTStorage returns the enabled v1alpha1 resources.
func (RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(auditreg.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"auditsinks": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := auditsink.NewStorage(api.Scheme, optsGetter)
			return map[string]rest.Storage{"auditsinks": s}, err
		},
	})
}
