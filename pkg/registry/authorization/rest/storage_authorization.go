// Package rest is the authorization.k8s.io provider (kube's
// pkg/registry/authorization/rest/storage_authorization.go).
package rest

import (
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
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
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(authorizationv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"selfsubjectaccessreviews": registry.Static("selfsubjectaccessreviews", &selfsubjectaccessreview.REST{Authorizer: p.Authorizer}),
		"selfsubjectrulesreviews":  registry.Static("selfsubjectrulesreviews", &selfsubjectrulesreview.REST{RuleResolver: p.RuleResolver}),
	})
}
