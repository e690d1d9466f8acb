// Package widgets is a tiny controller of the kind an operator's project
// has: it reconciles Widgets (example.com/v1, config/crd) by marking each
// one ready in its status. Its test (controller_test.go) runs it against
// mini-apiserver's harness with the CRD installed and asserts on the audit
// trail of what it did, as a user's test suite would.
package widgets

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GVK is the Widget kind.
var GVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}

// Reconciler marks every Widget ready.
type Reconciler struct{ client.Client }

// Reconcile sets status.ready on the Widget, once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	w := &unstructured.Unstructured{}
	w.SetGroupVersionKind(GVK)
	if err := r.Get(ctx, req.NamespacedName, w); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ready, _, _ := unstructured.NestedBool(w.Object, "status", "ready"); ready {
		return ctrl.Result{}, nil
	}
	if err := unstructured.SetNestedField(w.Object, true, "status", "ready"); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.Status().Update(ctx, w)
}

// SetupWithManager registers the reconciler for Widgets.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	w := &unstructured.Unstructured{}
	w.SetGroupVersionKind(GVK)
	return ctrl.NewControllerManagedBy(mgr).For(w).Named("widget").Complete(r)
}
