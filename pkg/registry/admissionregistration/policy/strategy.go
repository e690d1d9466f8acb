// Package policy serves admissionregistration.k8s.io/v1
// ValidatingAdmissionPolicies (with their status) and
// ValidatingAdmissionPolicyBindings (kube's
// pkg/registry/admissionregistration/validatingadmissionpolicy{,binding}),
// which the library's ValidatingAdmissionPolicy plugin enforces.
package policy

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
)

// policyStrategy is kube's: status is the status writer's, generation 1 on
// create and bumped when the spec changes; a well-formed policy's paramKind
// must be readable by its writer.
type policyStrategy struct {
	registry.Strategy
	authz ParamAuthorizer
}

func (policyStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	p.Status, p.Generation = admissionregistrationv1.ValidatingAdmissionPolicyStatus{}, 1
}

func (policyStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), old.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	p.Status = oldP.Status
	if !equality.Semantic.DeepEqual(oldP.Spec, p.Spec) {
		p.Generation = oldP.Generation + 1
	}
}

func (policyStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"admissionregistration.k8s.io/v1": fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
}

func (s policyStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	return wellFormedThen(validatePolicy(p, newStored()), func() field.ErrorList { return s.authz.paramKind(ctx, p.Spec.ParamKind, nil) })
}

func (s policyStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	p, oldP := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), old.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	return wellFormedThen(validatePolicy(p, storedOf(oldP, p)), func() field.ErrorList { return s.authz.paramKind(ctx, p.Spec.ParamKind, oldP.Spec.ParamKind) })
}

// statusStrategy takes only status.
type statusStrategy struct{ policyStrategy }

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), old.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	p.Spec = oldP.Spec
	metav1.ResetObjectMetaForStatus(&p.ObjectMeta, &oldP.ObjectMeta)
}

func (statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"admissionregistration.k8s.io/v1": fieldpath.NewSet(
		fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata"))}
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	allErrors := apivalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &old.(*admissionregistrationv1.ValidatingAdmissionPolicy).ObjectMeta, field.NewPath("metadata"))
	return append(allErrors, validateStatus(&p.Status)...)
}

// bindingStrategy is kube's: generation 1 on create, bumped when the spec
// changes; a well-formed binding's paramRef must be readable by its
// writer.
type bindingStrategy struct {
	registry.Strategy
	authz  ParamAuthorizer
	kindOf func(ctx context.Context, policyName string) (*admissionregistrationv1.ParamKind, error)
}

func (s bindingStrategy) binding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) binding {
	return binding{policyName: b.Spec.PolicyName, ref: b.Spec.ParamRef, kindOf: s.kindOf}
}

func (bindingStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding).Generation = 1
}

func (bindingStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	b, oldB := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding), old.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
	if !equality.Semantic.DeepEqual(oldB.Spec, b.Spec) {
		b.Generation = oldB.Generation + 1
	}
}

func (s bindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	b := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
	return wellFormedThen(validateBinding(b), func() field.ErrorList { return s.authz.paramRef(ctx, s.binding(b), nil) })
}

func (s bindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	b := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
	if errs := validateBinding(b); len(errs) > 0 {
		return errs
	}
	oldB := s.binding(old.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding))
	return s.authz.paramRef(ctx, s.binding(b), &oldB)
}
