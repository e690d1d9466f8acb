// Package lease serves coordination.k8s.io/v1 leases (kube's
// pkg/registry/coordination/lease), what controllers' leader election
// writes.
package lease

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
)

// strategy is kube's lease strategy: a lease may be created by a PUT,
// updates need a resourceVersion, and the coordinated leader election
// fields (strategy, preferredHolder) are dropped, as kube does while its
// CoordinatedLeaderElection gate is off by default.
type strategy struct{ registry.Strategy }

// NewStrategy returns the Lease strategy.
func NewStrategy() strategy { return strategy{registry.NewStrategy(true, true, false)} }

func (strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	dropCoordinatedFields(obj.(*coordinationv1.Lease))
}

func (strategy) PrepareForUpdate(_ context.Context, obj, _ runtime.Object) {
	dropCoordinatedFields(obj.(*coordinationv1.Lease))
}

func dropCoordinatedFields(l *coordinationv1.Lease) {
	l.Spec.Strategy, l.Spec.PreferredHolder = nil, nil
}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	l := obj.(*coordinationv1.Lease)
	allErrs := apivalidation.ValidateObjectMeta(&l.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateSpec(&l.Spec, field.NewPath("spec"))...)
}

func (strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	l := obj.(*coordinationv1.Lease)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&l.ObjectMeta, &old.(*coordinationv1.Lease).ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateSpec(&l.Spec, field.NewPath("spec"))...)
}

// validateSpec is kube's ValidateLeaseSpec for what the strategy keeps.
func validateSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	return allErrs
}
