// Package webhookconfiguration serves admissionregistration.k8s.io/v1
// MutatingWebhookConfigurations and ValidatingWebhookConfigurations (kube's
// pkg/registry/admissionregistration/{mutating,validating}webhookconfiguration),
// which the library's webhook admission plugins read.
package webhookconfiguration

import (
	"context"
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
)

// kind is one of the two configuration kinds, as the strategy sees it.
type kind struct {
	meta  func(runtime.Object) *metav1.ObjectMeta
	hooks func(runtime.Object) []hook
}

var (
	mutating = kind{
		meta: func(o runtime.Object) *metav1.ObjectMeta {
			return &o.(*admissionregistrationv1.MutatingWebhookConfiguration).ObjectMeta
		},
		hooks: func(o runtime.Object) []hook {
			return mutatingHooks(o.(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks)
		},
	}
	validating = kind{
		meta: func(o runtime.Object) *metav1.ObjectMeta {
			return &o.(*admissionregistrationv1.ValidatingWebhookConfiguration).ObjectMeta
		},
		hooks: func(o runtime.Object) []hook {
			return validatingHooks(o.(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks)
		},
	}
)

// strategy is kube's: cluster-scoped, generation 1 on create and bumped
// when the webhooks change, updates need a resourceVersion.
type strategy struct {
	registry.Strategy
	kind
	// excluded are the resources webhooks never see, for the warnings.
	excluded []schema.GroupResource
}

func newStrategy(k kind, excluded []schema.GroupResource) strategy {
	return strategy{registry.NewStrategy(false, false, false), k, excluded}
}

func (s strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	s.meta(obj).Generation = 1
}

func (s strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	if !reflect.DeepEqual(s.hooks(obj), s.hooks(old)) {
		s.meta(obj).Generation = s.meta(old).Generation + 1
	}
}

func (s strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	meta := s.meta(obj)
	return append(validateConfiguration(meta, s.hooks(obj), createOptions), validateStaticSuffix(meta.Name)...)
}

func (s strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	hooks := s.hooks(obj)
	return validateConfiguration(s.meta(obj), hooks, updateOptions(hooks, s.hooks(old)))
}

func (s strategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	return warnings(s.hooks(obj), s.excluded)
}

func (s strategy) WarningsOnUpdate(_ context.Context, obj, _ runtime.Object) []string {
	var out []string
	// A stored name with the reserved suffix may still be updated.
	for _, err := range validateStaticSuffix(s.meta(obj).Name) {
		out = append(out, err.Field+": "+err.Detail)
	}
	return append(out, warnings(s.hooks(obj), s.excluded)...)
}
