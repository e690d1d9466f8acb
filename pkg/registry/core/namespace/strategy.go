// Package namespace serves core/v1 Namespaces with kube's two-phase delete:
// a delete marks the namespace Terminating, the namespace controller empties
// it and removes the "kubernetes" finalizer, and a final delete removes it.
package namespace

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

type namespaceStrategy struct {
	runtime.ObjectTyper
	names.NameGenerator
}

// NewStrategy returns the create/update/delete strategy for namespaces.
func NewStrategy(typer runtime.ObjectTyper) namespaceStrategy {
	return namespaceStrategy{typer, names.SimpleNameGenerator}
}

func (namespaceStrategy) NamespaceScoped() bool { return false }

func (namespaceStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"v1": fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
}

func (namespaceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	hasKubeFinalizer := false
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			hasKubeFinalizer = true
		}
	}
	if !hasKubeFinalizer {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

func (namespaceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newNs, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	newNs.Spec.Finalizers = oldNs.Spec.Finalizers
	newNs.Status = oldNs.Status
}

func (namespaceStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ns := obj.(*corev1.Namespace)
	allErrs := apivalidation.ValidateObjectMeta(&ns.ObjectMeta, false, apivalidation.ValidateNamespaceName, field.NewPath("metadata"))
	return append(allErrs, validateFinalizers(ns.Spec.Finalizers)...)
}

func validateFinalizers(finalizers []corev1.FinalizerName) field.ErrorList {
	var allErrs field.ErrorList
	for i, f := range finalizers {
		for _, msg := range validation.IsQualifiedName(string(f)) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "finalizers").Index(i), f, msg))
		}
	}
	return allErrs
}

func (namespaceStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return nil
}

// Canonicalize keeps the name label kube guarantees on every namespace.
func (namespaceStrategy) Canonicalize(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

func (namespaceStrategy) AllowCreateOnUpdate(context.Context) bool { return false }

func (namespaceStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	newNs, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newNs.ObjectMeta, &oldNs.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateFinalizers(newNs.Spec.Finalizers)...)
}

func (namespaceStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

func (namespaceStrategy) AllowUnconditionalUpdate(context.Context) bool { return true }

type namespaceStatusStrategy struct{ namespaceStrategy }

func (namespaceStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"v1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))}
}

func (namespaceStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newNs, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	newNs.Spec = oldNs.Spec
}

func (namespaceStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	newNs, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newNs.ObjectMeta, &oldNs.ObjectMeta, field.NewPath("metadata"))
	phasePath := field.NewPath("status", "phase")
	if newNs.DeletionTimestamp.IsZero() {
		if newNs.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(phasePath, newNs.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if newNs.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(phasePath, newNs.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}

type namespaceFinalizeStrategy struct{ namespaceStrategy }

func (namespaceFinalizeStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{"v1": fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
}

// PrepareForUpdate lets /finalize change only spec.finalizers.
func (namespaceFinalizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newNs, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	newNs.Status = oldNs.Status
}

// GetAttrs returns the labels and selectable fields of a namespace.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, nil, fmt.Errorf("not a namespace: %T", obj)
	}
	return labels.Set(ns.Labels), generic.AddObjectMetaFieldsSet(fields.Set{
		"status.phase": string(ns.Status.Phase),
	}, &ns.ObjectMeta, false), nil
}

// Match returns the selection predicate for namespaces.
func Match(label labels.Selector, f fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: f, GetAttrs: GetAttrs}
}
