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

// kindStrategy is kube's strategy of the four policy kinds: generation 1
// on create and bumped when the spec changes; an object is validated, and
// only a well-formed one is checked for who may read its params, as kube
// does.
type kindStrategy[T interface {
	runtime.Object
	metav1.Object
}] struct {
	registry.Strategy
	spec func(T) any
	// validate and authorize have old nil on create.
	validate  func(obj, old T) field.ErrorList
	authorize func(ctx context.Context, obj, old T) field.ErrorList
}

func (s kindStrategy[T]) PrepareForCreate(_ context.Context, obj runtime.Object) {
	obj.(T).SetGeneration(1)
}

func (s kindStrategy[T]) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	cur, prev := obj.(T), old.(T)
	if !equality.Semantic.DeepEqual(s.spec(prev), s.spec(cur)) {
		cur.SetGeneration(prev.GetGeneration() + 1)
	}
}

func (s kindStrategy[T]) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	var none T
	return s.check(ctx, obj.(T), none)
}

func (s kindStrategy[T]) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.check(ctx, obj.(T), old.(T))
}

func (s kindStrategy[T]) check(ctx context.Context, obj, old T) field.ErrorList {
	if errs := s.validate(obj, old); len(errs) > 0 {
		return errs
	}
	return s.authorize(ctx, obj, old)
}

// policyCheck is the authorize of a policy kind, paramKind its paramKind
// (nil for a nil policy).
func policyCheck[P any](authz ParamAuthorizer, paramKind func(P) *admissionregistrationv1.ParamKind) func(context.Context, P, P) field.ErrorList {
	return func(ctx context.Context, p, old P) field.ErrorList {
		return authz.paramKind(ctx, paramKind(p), paramKind(old))
	}
}

// bindingCheck is the authorize of a binding kind, view its binding (nil
// for a nil binding).
func bindingCheck[B any](authz ParamAuthorizer, view func(B) *binding) func(context.Context, B, B) field.ErrorList {
	return func(ctx context.Context, b, old B) field.ErrorList { return authz.paramRef(ctx, *view(b), view(old)) }
}

func validatingParamKind(p *validatingPolicy) *admissionregistrationv1.ParamKind {
	if p == nil {
		return nil
	}
	return p.Spec.ParamKind
}

func mutatingParamKind(p *mutatingPolicy) *admissionregistrationv1.ParamKind {
	if p == nil {
		return nil
	}
	return p.Spec.ParamKind
}

type (
	validatingPolicy  = admissionregistrationv1.ValidatingAdmissionPolicy
	validatingBinding = admissionregistrationv1.ValidatingAdmissionPolicyBinding
	mutatingPolicy    = admissionregistrationv1.MutatingAdmissionPolicy
	mutatingBinding   = admissionregistrationv1.MutatingAdmissionPolicyBinding
)

// policyStrategy is kube's ValidatingAdmissionPolicy strategy: status is
// the status writer's.
type policyStrategy struct {
	kindStrategy[*validatingPolicy]
}

func newPolicyStrategy(authz ParamAuthorizer) policyStrategy {
	return policyStrategy{kindStrategy[*validatingPolicy]{
		Strategy: registry.NewStrategy(false, false, false),
		spec:     func(p *validatingPolicy) any { return p.Spec },
		validate: func(p, old *validatingPolicy) field.ErrorList {
			if old == nil {
				return validatePolicy(p, newStored())
			}
			return validatePolicy(p, storedOf(old, p))
		},
		authorize: policyCheck(authz, validatingParamKind),
	}}
}

func (s policyStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*validatingPolicy).Status = admissionregistrationv1.ValidatingAdmissionPolicyStatus{}
	s.kindStrategy.PrepareForCreate(ctx, obj)
}

func (s policyStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*validatingPolicy).Status = old.(*validatingPolicy).Status
	s.kindStrategy.PrepareForUpdate(ctx, obj, old)
}

func (policyStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"admissionregistration.k8s.io/v1": fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
}

// statusStrategy takes only status.
type statusStrategy struct{ policyStrategy }

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*validatingPolicy), old.(*validatingPolicy)
	p.Spec = oldP.Spec
	metav1.ResetObjectMetaForStatus(&p.ObjectMeta, &oldP.ObjectMeta)
}

func (statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"admissionregistration.k8s.io/v1": fieldpath.NewSet(
		fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata"))}
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	p := obj.(*validatingPolicy)
	allErrors := apivalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &old.(*validatingPolicy).ObjectMeta, field.NewPath("metadata"))
	return append(allErrors, validateStatus(&p.Status)...)
}

// newBindingStrategy is kube's ValidatingAdmissionPolicyBinding strategy;
// kindOf reads a policy's paramKind.
func newBindingStrategy(authz ParamAuthorizer, kindOf paramKindReader) kindStrategy[*validatingBinding] {
	return kindStrategy[*validatingBinding]{
		Strategy: registry.NewStrategy(false, false, false),
		spec:     func(b *validatingBinding) any { return b.Spec },
		validate: func(b, _ *validatingBinding) field.ErrorList { return validateBinding(b) },
		authorize: bindingCheck(authz, func(b *validatingBinding) *binding {
			if b == nil {
				return nil
			}
			return &binding{policyName: b.Spec.PolicyName, ref: b.Spec.ParamRef, kindOf: kindOf}
		}),
	}
}

// newMutatingPolicyStrategy is kube's MutatingAdmissionPolicy strategy.
func newMutatingPolicyStrategy(authz ParamAuthorizer) kindStrategy[*mutatingPolicy] {
	return kindStrategy[*mutatingPolicy]{
		Strategy: registry.NewStrategy(false, false, false),
		spec:     func(p *mutatingPolicy) any { return p.Spec },
		validate: func(p, old *mutatingPolicy) field.ErrorList {
			if old == nil {
				return validateMutatingPolicy(p, newStored())
			}
			return validateMutatingPolicy(p, mutatingStoredOf(old, p))
		},
		authorize: policyCheck(authz, mutatingParamKind),
	}
}

// newMutatingBindingStrategy is kube's MutatingAdmissionPolicyBinding
// strategy; kindOf reads a policy's paramKind.
func newMutatingBindingStrategy(authz ParamAuthorizer, kindOf paramKindReader) kindStrategy[*mutatingBinding] {
	return kindStrategy[*mutatingBinding]{
		Strategy: registry.NewStrategy(false, false, false),
		spec:     func(b *mutatingBinding) any { return b.Spec },
		validate: func(b, _ *mutatingBinding) field.ErrorList { return validateMutatingBinding(b) },
		authorize: bindingCheck(authz, func(b *mutatingBinding) *binding {
			if b == nil {
				return nil
			}
			return &binding{policyName: b.Spec.PolicyName, ref: b.Spec.ParamRef, kindOf: kindOf, mutating: true}
		}),
	}
}
