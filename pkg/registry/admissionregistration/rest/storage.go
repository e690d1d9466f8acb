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
	// ParamAuthorizer checks that whoever writes a policy or binding may
	// read its params.
	ParamAuthorizer policy.ParamAuthorizer
}

// GroupName is admissionregistration.k8s.io.
func (RESTStorageProvider) GroupName() string { return admissionregistrationv1.GroupName }

// NewRESTStorage returns the enabled v1 resources.
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	// A binding's check reads its policy: from the policies' store, if
	// served.
	var validatingPolicies, mutatingPolicies rest.Getter
	return registry.NewAPIGroupInfo(admissionregistrationv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"mutatingwebhookconfigurations": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := webhookconfiguration.NewMutatingStorage(optsGetter, p.ExcludedResources)
			return map[string]rest.Storage{"mutatingwebhookconfigurations": s}, err
		},
		"validatingadmissionpolicies": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, status, err := policy.NewPolicyStorage(optsGetter, p.ParamAuthorizer)
			validatingPolicies = s
			return map[string]rest.Storage{"validatingadmissionpolicies": s, "validatingadmissionpolicies/status": status}, err
		},
		"validatingadmissionpolicybindings": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := policy.NewBindingStorage(optsGetter, p.ParamAuthorizer, func() rest.Getter { return validatingPolicies })
			return map[string]rest.Storage{"validatingadmissionpolicybindings": s}, err
		},
		"mutatingadmissionpolicies": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := policy.NewMutatingPolicyStorage(optsGetter, p.ParamAuthorizer)
			mutatingPolicies = s
			return map[string]rest.Storage{"mutatingadmissionpolicies": s}, err
		},
		"mutatingadmissionpolicybindings": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := policy.NewMutatingBindingStorage(optsGetter, p.ParamAuthorizer, func() rest.Getter { return mutatingPolicies })
			return map[string]rest.Storage{"mutatingadmissionpolicybindings": s}, err
		},
		"validatingwebhookconfigurations": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := webhookconfiguration.NewValidatingStorage(optsGetter, p.ExcludedResources)
			return map[string]rest.Storage{"validatingwebhookconfigurations": s}, err
		},
	})
}
