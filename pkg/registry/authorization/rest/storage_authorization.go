// Package rest is the authorization.k8s.io provider (kube's
// pkg/registry/authorization/rest/storage_authorization.go).
package rest

import (
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/authorization/selfsubjectaccessreview"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/authorization/selfsubjectrulesreview"
)

// RESTStorageProvider builds authorization.k8s.io/v1: the reviews ask the
// server's authorizer and rule resolver.
type RESTStorageProvider struct {
	Authorizer   authorizer.Authorizer
	RuleResolver authorizer.RuleResolver
}

// GroupName is authorization.k8s.io.
func (RESTStorageProvider) GroupName() string { return authorizationv1.GroupName }

// NewRESTStorage returns the enabled v1 resources; none is stored.
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, _ generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	info := genericapiserver.NewDefaultAPIGroupInfo(authorizationv1.GroupName, api.Scheme, api.ParameterCodec, api.Codecs)
	v1 := authorizationv1.SchemeGroupVersion
	storage := map[string]rest.Storage{}
	if source.ResourceEnabled(v1.WithResource("selfsubjectaccessreviews")) {
		storage["selfsubjectaccessreviews"] = &selfsubjectaccessreview.REST{Authorizer: p.Authorizer}
	}
	if source.ResourceEnabled(v1.WithResource("selfsubjectrulesreviews")) {
		storage["selfsubjectrulesreviews"] = &selfsubjectrulesreview.REST{RuleResolver: p.RuleResolver}
	}
	if len(storage) > 0 {
		info.VersionedResourcesStorageMap[v1.Version] = storage
	}
	return info, nil
}
