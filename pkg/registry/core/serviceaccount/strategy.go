// Package serviceaccount serves core/v1 serviceaccounts (kube's
// pkg/registry/core/serviceaccount).
package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
)

// EnforceMountableSecretsAnnotation is kube's deprecated annotation that
// limits the secrets a service account's pods may mount.
const EnforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"

// strategy is kube's: a secret reference keeps only its name, updates
// need no resourceVersion.
type strategy struct{ registry.Strategy }

// NewStrategy returns the ServiceAccount strategy.
func NewStrategy() strategy { return strategy{registry.NewStrategy(true, false, true)} }

func (strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	cleanSecretReferences(obj.(*corev1.ServiceAccount))
}

func (strategy) PrepareForUpdate(_ context.Context, obj, _ runtime.Object) {
	cleanSecretReferences(obj.(*corev1.ServiceAccount))
}

func cleanSecretReferences(sa *corev1.ServiceAccount) {
	for i, s := range sa.Secrets {
		sa.Secrets[i] = corev1.ObjectReference{Name: s.Name}
	}
}

// Validate is kube's ValidateServiceAccount: the name is a DNS subdomain.
func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	sa := obj.(*corev1.ServiceAccount)
	return apivalidation.ValidateObjectMeta(&sa.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

func (s strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	sa := obj.(*corev1.ServiceAccount)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&sa.ObjectMeta, &old.(*corev1.ServiceAccount).ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, s.Validate(ctx, obj)...)
}

func (strategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	return mountableSecretsWarning(obj.(*corev1.ServiceAccount), nil)
}

func (strategy) WarningsOnUpdate(_ context.Context, obj, old runtime.Object) []string {
	return mountableSecretsWarning(obj.(*corev1.ServiceAccount), old.(*corev1.ServiceAccount))
}

// mountableSecretsWarning is kube's: the annotation is deprecated since 1.32.
func mountableSecretsWarning(sa, old *corev1.ServiceAccount) []string {
	if old != nil {
		if _, ok := old.Annotations[EnforceMountableSecretsAnnotation]; ok {
			return nil
		}
	}
	if _, ok := sa.Annotations[EnforceMountableSecretsAnnotation]; ok {
		return []string{fmt.Sprintf("metadata.annotations[%s]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets", EnforceMountableSecretsAnnotation)}
	}
	return nil
}
