package auditsink

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/storage/names"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/validation"
)

// strategy follows k8s.io/kubernetes v1.18
// pkg/registry/auditregistration/auditsink/strategy.go: generation 1 on
// create and moved only by a spec change; updates need a resourceVersion.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
}

// NewStrategy returns the AuditSink strategy.
func NewStrategy(typer runtime.ObjectTyper) strategy {
	return strategy{typer, names.SimpleNameGenerator}
}

func (strategy) NamespaceScoped() bool                         { return false }
func (strategy) AllowCreateOnUpdate(context.Context) bool      { return false }
func (strategy) AllowUnconditionalUpdate(context.Context) bool { return false }
func (strategy) Canonicalize(runtime.Object)                   {}

func (strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	obj.(*auditreg.AuditSink).Generation = 1
}

func (strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	sink, prev := obj.(*auditreg.AuditSink), old.(*auditreg.AuditSink)
	sink.Generation = prev.Generation
	if !equality.Semantic.DeepEqual(sink.Spec, prev.Spec) {
		sink.Generation = prev.Generation + 1
	}
}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.Validate(obj.(*auditreg.AuditSink))
}

func (strategy) ValidateUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	return validation.Validate(obj.(*auditreg.AuditSink))
}

func (strategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	return validation.Warnings(obj.(*auditreg.AuditSink))
}

func (strategy) WarningsOnUpdate(_ context.Context, obj, _ runtime.Object) []string {
	return validation.Warnings(obj.(*auditreg.AuditSink))
}
