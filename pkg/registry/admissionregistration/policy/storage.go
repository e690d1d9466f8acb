package policy

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// NewPolicyStorage returns the validatingadmissionpolicies store and its
// status subresource.
func NewPolicyStorage(optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, *registry.StatusSubresource, error) {
	s := policyStrategy{registry.NewStrategy(false, false, false)}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} },
		NewListFunc:               func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
		DefaultQualifiedResource:  admissionregistrationv1.Resource("validatingadmissionpolicies"),
		SingularQualifiedResource: admissionregistrationv1.Resource("validatingadmissionpolicy"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		ResetFieldsStrategy:       s,
		// kube's printer: NAME, VALIDATIONS, PARAMKIND, AGE.
		TableConvertor: table.Convertor{
			Columns: []metav1.TableColumnDefinition{
				table.Name,
				{Name: "Validations", Type: "integer", Description: "Validations indicates the number of validation rules defined in this configuration"},
				{Name: "ParamKind", Type: "string", Description: "ParamKind specifies the kind of resources used to parameterize this policy"},
				table.Age,
			},
			Cells: func(o runtime.Object) []interface{} {
				p := o.(*admissionregistrationv1.ValidatingAdmissionPolicy)
				paramKind := "<unset>"
				if k := p.Spec.ParamKind; k != nil {
					paramKind = k.APIVersion + "/" + k.Kind
				}
				return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKind, table.Since(p.CreationTimestamp)}
			},
		},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, nil, err
	}
	statusStore := *store
	statusStore.UpdateStrategy = statusStrategy{s}
	statusStore.ResetFieldsStrategy = statusStrategy{s}
	return store, registry.NewStatusSubresource(&statusStore), nil
}

// NewBindingStorage returns the validatingadmissionpolicybindings store.
func NewBindingStorage(optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	s := bindingStrategy{registry.NewStrategy(false, false, false)}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} },
		NewListFunc:               func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
		DefaultQualifiedResource:  admissionregistrationv1.Resource("validatingadmissionpolicybindings"),
		SingularQualifiedResource: admissionregistrationv1.Resource("validatingadmissionpolicybinding"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		// kube's printer: NAME, POLICYNAME, PARAMREF, AGE.
		TableConvertor: table.Convertor{
			Columns: []metav1.TableColumnDefinition{
				table.Name,
				{Name: "PolicyName", Type: "string", Description: "PolicyName indicates the policy definition which the policy binding binded to"},
				{Name: "ParamRef", Type: "string", Description: "ParamRef indicates the param resource which sets the configuration param"},
				table.Age,
			},
			Cells: func(o runtime.Object) []interface{} {
				b := o.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
				param := "<unset>"
				if ref := b.Spec.ParamRef; ref != nil {
					switch {
					case ref.Name != "" && ref.Namespace != "":
						param = ref.Namespace + "/" + ref.Name
					case ref.Name != "":
						// Whether the param is cluster-scoped is not known here.
						param = "*/" + ref.Name
					case ref.Selector != nil:
						param = ref.Selector.String()
					}
				}
				return []interface{}{b.Name, b.Spec.PolicyName, param, table.Since(b.CreationTimestamp)}
			},
		},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return store, nil
}
