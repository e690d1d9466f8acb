// Package rest is the admissionregistration.k8s.io provider (kube's
// pkg/registry/admissionregistration/rest/storage_apiserver.go): the
// webhook configurations and admission policies the library's admission
// plugins enforce.
package rest

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/policy"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/webhookconfiguration"
)

// RESTStorageProvider builds admissionregistration.k8s.io/v1.
type RESTStorageProvider struct {
	// ExcludedResources are the resources admission webhooks never see;
	// a rule naming one is warned of.
	ExcludedResources []schema.GroupResource
}

// GroupName is admissionregistration.k8s.io.
func (RESTStorageProvider) GroupName() string { return admissionregistrationv1.GroupName }

// NewRESTStorage returns the enabled v1 resources.
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(admissionregistrationv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"mutatingwebhookconfigurations": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := webhookconfiguration.NewMutatingStorage(optsGetter, p.ExcludedResources)
			return map[string]rest.Storage{"mutatingwebhookconfigurations": s}, err
		},
		"validatingadmissionpolicies": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, status, err := policy.NewPolicyStorage(optsGetter)
			return map[string]rest.Storage{"validatingadmissionpolicies": s, "validatingadmissionpolicies/status": status}, err
		},
		"validatingadmissionpolicybindings": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := policy.NewBindingStorage(optsGetter)
			return map[string]rest.Storage{"validatingadmissionpolicybindings": s}, err
		},
		"mutatingadmissionpolicies": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := policy.NewMutatingPolicyStorage(optsGetter)
			return map[string]rest.Storage{"mutatingadmissionpolicies": s}, err
		},
		"mutatingadmissionpolicybindings": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := policy.NewMutatingBindingStorage(optsGetter)
			return map[string]rest.Storage{"mutatingadmissionpolicybindings": s}, err
		},
		"validatingwebhookconfigurations": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := webhookconfiguration.NewValidatingStorage(optsGetter, p.ExcludedResources)
			return map[string]rest.Storage{"validatingwebhookconfigurations": s}, err
		},
	})
}
