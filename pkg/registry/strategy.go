package registry

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

// Strategy is what the create, update and delete strategies of most
// resources share (kube's pkg/registry/<group>/<resource>/strategy.go write
// it out each time): the scheme's typer, generated names, the scope, the
// two update policies, and no preparation, canonicalization or warnings. A
// resource's strategy embeds it and adds its validation, overriding what it
// does differently.
type Strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	Namespaced bool
	// CreateOnUpdate lets a PUT create; UnconditionalUpdate lets an update
	// without a resourceVersion through.
	CreateOnUpdate, UnconditionalUpdate bool
}

// NewStrategy is a Strategy on the server's scheme.
func NewStrategy(namespaced, createOnUpdate, unconditionalUpdate bool) Strategy {
	return Strategy{ObjectTyper: api.Scheme, NameGenerator: names.SimpleNameGenerator,
		Namespaced: namespaced, CreateOnUpdate: createOnUpdate, UnconditionalUpdate: unconditionalUpdate}
}

func (s Strategy) NamespaceScoped() bool                                          { return s.Namespaced }
func (s Strategy) AllowCreateOnUpdate(context.Context) bool                       { return s.CreateOnUpdate }
func (s Strategy) AllowUnconditionalUpdate(context.Context) bool                  { return s.UnconditionalUpdate }
func (Strategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (Strategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (Strategy) Canonicalize(runtime.Object)                                      {}
func (Strategy) WarningsOnCreate(context.Context, runtime.Object) []string        { return nil }
func (Strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
