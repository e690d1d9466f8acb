package webhookconfiguration

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// NewMutatingStorage returns the mutatingwebhookconfigurations store;
// excluded are the resources webhooks never see (warned of).
func NewMutatingStorage(optsGetter generic.RESTOptionsGetter, excluded []schema.GroupResource) (*genericregistry.Store, error) {
	return newStore(optsGetter, newStrategy(mutating, excluded), "mutatingwebhookconfiguration",
		func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
		func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfigurationList{} },
		func(o runtime.Object) int {
			return len(o.(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks)
		})
}

// NewValidatingStorage returns the validatingwebhookconfigurations store.
func NewValidatingStorage(optsGetter generic.RESTOptionsGetter, excluded []schema.GroupResource) (*genericregistry.Store, error) {
	return newStore(optsGetter, newStrategy(validating, excluded), "validatingwebhookconfiguration",
		func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
		func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} },
		func(o runtime.Object) int {
			return len(o.(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks)
		})
}

func newStore(optsGetter generic.RESTOptionsGetter, s strategy, singular string, newFunc, newListFunc func() runtime.Object, webhooks func(runtime.Object) int) (*genericregistry.Store, error) {
	store := &genericregistry.Store{
		NewFunc:                   newFunc,
		NewListFunc:               newListFunc,
		DefaultQualifiedResource:  admissionregistrationv1.Resource(singular + "s"),
		SingularQualifiedResource: admissionregistrationv1.Resource(singular),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		// kube's printer: NAME, WEBHOOKS, AGE.
		TableConvertor: table.Convertor{
			Columns: []metav1.TableColumnDefinition{
				table.Name,
				{Name: "Webhooks", Type: "integer", Description: "Webhooks indicates the number of webhooks registered in this configuration"},
				table.Age,
			},
			Cells: func(o runtime.Object) []interface{} {
				meta := s.meta(o)
				return []interface{}{meta.Name, int64(webhooks(o)), table.Since(meta.CreationTimestamp)}
			},
		},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return store, nil
}
