package widgets

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// The policy records what happens to widgets, and nothing else.
const policy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse
  resources: [{group: example.com, resources: [widgets, widgets/status]}]
- level: None
`

func TestReconcilerMarksWidgetsReady(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := harness.Start(ctx, harness.Options{
		Policy: policy,
		CRDs:   &harness.CRDInstallOptions{Paths: []string{"config/crd"}, ErrorIfPathMissing: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	cfg := rest.CopyConfig(srv.RESTConfig())
	cfg.UserAgent = "widget-controller"
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	c, err := client.New(srv.RESTConfig(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w1", "namespace": "default"}, "spec": map[string]interface{}{"size": int64(2)}}}
	if err := c.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	// The controller's work, as the audit trail tells it: one status
	// update of w1 by the controller (its user agent), answered 200, with
	// the object it sent.
	var update *auditv1.Event
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		events, err := srv.AuditEvents()
		update = nil
		for i, e := range events {
			if e.UserAgent == "widget-controller" && e.Verb == "update" && e.ObjectRef != nil && e.ObjectRef.Subresource == "status" {
				update = &events[i]
			}
		}
		return update != nil, err
	})
	if err != nil {
		t.Fatalf("no status update by the controller in the audit trail: %v", err)
	}
	ref := update.ObjectRef
	if update.ResponseStatus.Code != 200 || ref.APIGroup != "example.com" || ref.Resource != "widgets" || ref.Namespace != "default" || ref.Name != "w1" ||
		update.RequestObject == nil || update.Level != auditv1.LevelRequestResponse {
		t.Errorf("the controller's status update: %d %+v %s", update.ResponseStatus.Code, ref, update.Level)
	}
	var sent unstructured.Unstructured
	if err := sent.UnmarshalJSON(update.RequestObject.Raw); err != nil {
		t.Fatal(err)
	}
	if ready, _, _ := unstructured.NestedBool(sent.Object, "status", "ready"); !ready {
		t.Errorf("the controller sent %v, want status.ready", sent.Object["status"])
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(GVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "w1"}, got); err != nil {
		t.Fatal(err)
	}
	if ready, _, _ := unstructured.NestedBool(got.Object, "status", "ready"); !ready {
		t.Errorf("w1's status: %v", got.Object["status"])
	}
}
