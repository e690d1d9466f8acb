package policy

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// strategy is what the four stores need of theirs.
type strategy interface {
	rest.RESTCreateStrategy
	rest.RESTUpdateStrategy
	rest.RESTDeleteStrategy
}

func newStore(optsGetter generic.RESTOptionsGetter, s strategy, singular string, newFunc, newListFunc func() runtime.Object, columns table.Convertor) (*genericregistry.Store, error) {
	store := &genericregistry.Store{
		NewFunc:                   newFunc,
		NewListFunc:               newListFunc,
		DefaultQualifiedResource:  admissionregistrationv1.Resource(singular + "s"),
		SingularQualifiedResource: admissionregistrationv1.Resource(singular),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		TableConvertor:            columns,
	}
	if reset, ok := s.(rest.ResetFieldsStrategy); ok {
		store.ResetFieldsStrategy = reset
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return store, nil
}

// kube's columns (pkg/printers/internalversion): NAME, VALIDATIONS or
// MUTATIONS, PARAMKIND, AGE for policies; NAME, POLICYNAME, PARAMREF, AGE
// for bindings.
var (
	paramKindColumn = metav1.TableColumnDefinition{Name: "ParamKind", Type: "string", Description: "ParamKind specifies the kind of resources used to parameterize this policy"}
	bindingColumns  = []metav1.TableColumnDefinition{
		table.Name,
		{Name: "PolicyName", Type: "string", Description: "PolicyName indicates the policy definition which the policy binding binded to"},
		{Name: "ParamRef", Type: "string", Description: "ParamRef indicates the param resource which sets the configuration param"},
		table.Age,
	}
)

func paramKind(k *admissionregistrationv1.ParamKind) string {
	if k == nil {
		return "<unset>"
	}
	return k.APIVersion + "/" + k.Kind
}

func paramRef(ref *admissionregistrationv1.ParamRef) string {
	switch {
	case ref == nil:
		return "<unset>"
	case ref.Name != "" && ref.Namespace != "":
		return ref.Namespace + "/" + ref.Name
	case ref.Name != "":
		// Whether the param is cluster-scoped is not known here.
		return "*/" + ref.Name
	case ref.Selector != nil:
		return ref.Selector.String()
	}
	return "<unset>"
}

// kindOf reads a policy's paramKind for a binding's check from the
// policies' store (policies, nil while that resource is not served).
func kindOf[P runtime.Object](policies func() rest.Getter, paramKind func(P) *admissionregistrationv1.ParamKind) paramKindReader {
	return func(ctx context.Context, name string) (*admissionregistrationv1.ParamKind, error) {
		store := policies()
		if store == nil {
			return nil, fmt.Errorf("policy %q: its resource is not served", name)
		}
		obj, err := store.Get(ctx, name, &metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return paramKind(obj.(P)), nil
	}
}

// NewPolicyStorage returns the validatingadmissionpolicies store and its
// status subresource.
func NewPolicyStorage(optsGetter generic.RESTOptionsGetter, authz ParamAuthorizer) (*genericregistry.Store, *registry.StatusSubresource, error) {
	s := newPolicyStrategy(authz)
	store, err := newStore(optsGetter, s, "validatingadmissionpolicy",
		func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} },
		func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
		table.Convertor{
			Columns: []metav1.TableColumnDefinition{table.Name,
				{Name: "Validations", Type: "integer", Description: "Validations indicates the number of validation rules defined in this configuration"},
				paramKindColumn, table.Age},
			Cells: func(o runtime.Object) []interface{} {
				p := o.(*admissionregistrationv1.ValidatingAdmissionPolicy)
				return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKind(p.Spec.ParamKind), table.Since(p.CreationTimestamp)}
			},
		})
	if err != nil {
		return nil, nil, err
	}
	statusStore := *store
	statusStore.UpdateStrategy = statusStrategy{s}
	statusStore.ResetFieldsStrategy = statusStrategy{s}
	return store, registry.NewStatusSubresource(&statusStore), nil
}

// NewBindingStorage returns the validatingadmissionpolicybindings store;
// policies is the validatingadmissionpolicies store.
func NewBindingStorage(optsGetter generic.RESTOptionsGetter, authz ParamAuthorizer, policies func() rest.Getter) (*genericregistry.Store, error) {
	s := newBindingStrategy(authz, kindOf(policies, validatingParamKind))
	return newStore(optsGetter, s, "validatingadmissionpolicybinding",
		func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} },
		func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
		table.Convertor{Columns: bindingColumns, Cells: func(o runtime.Object) []interface{} {
			b := o.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
			return []interface{}{b.Name, b.Spec.PolicyName, paramRef(b.Spec.ParamRef), table.Since(b.CreationTimestamp)}
		}})
}

// NewMutatingPolicyStorage returns the mutatingadmissionpolicies store.
func NewMutatingPolicyStorage(optsGetter generic.RESTOptionsGetter, authz ParamAuthorizer) (*genericregistry.Store, error) {
	return newStore(optsGetter, newMutatingPolicyStrategy(authz), "mutatingadmissionpolicy",
		func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicy{} },
		func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyList{} },
		table.Convertor{
			Columns: []metav1.TableColumnDefinition{table.Name,
				{Name: "Mutations", Type: "integer", Description: "Mutation indicates the number of mutations rules defined in this configuration"},
				paramKindColumn, table.Age},
			Cells: func(o runtime.Object) []interface{} {
				p := o.(*admissionregistrationv1.MutatingAdmissionPolicy)
				return []interface{}{p.Name, int64(len(p.Spec.Mutations)), paramKind(p.Spec.ParamKind), table.Since(p.CreationTimestamp)}
			},
		})
}

// NewMutatingBindingStorage returns the mutatingadmissionpolicybindings
// store; policies is the mutatingadmissionpolicies store.
func NewMutatingBindingStorage(optsGetter generic.RESTOptionsGetter, authz ParamAuthorizer, policies func() rest.Getter) (*genericregistry.Store, error) {
	s := newMutatingBindingStrategy(authz, kindOf(policies, mutatingParamKind))
	return newStore(optsGetter, s, "mutatingadmissionpolicybinding",
		func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBinding{} },
		func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} },
		table.Convertor{Columns: bindingColumns, Cells: func(o runtime.Object) []interface{} {
			b := o.(*admissionregistrationv1.MutatingAdmissionPolicyBinding)
			return []interface{}{b.Name, b.Spec.PolicyName, paramRef(b.Spec.ParamRef), table.Since(b.CreationTimestamp)}
		}})
}
