package harness_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/dynamic"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// crdFile is a project's CRD manifest: two CRDs in one file, with a
// document of another kind between them.
const crdFile = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: v1
kind: Namespace
metadata:
  name: not-a-crd
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Cluster
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
`

// CRDs from a file and from Go are installed before Start returns, served
// at once (no wait for discovery in the test), and their custom resources
// audited with the CRD's group, version and resource.
func TestHarnessInstallsCRDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crds.yaml"), []byte(crdFile), 0o600); err != nil {
		t.Fatal(err)
	}
	sprocket := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "sprockets.example.org"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "example.org", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Sprocket", Plural: "sprockets"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1alpha1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTo(true)}}}}}}
	srv, err := harness.Start(ctx, harness.Options{
		Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n  resources: [{group: example.com, resources: [widgets]}]\n",
		CRDs:   &harness.CRDInstallOptions{Paths: []string{dir, filepath.Join(dir, "missing")}, CRDs: []*apiextensionsv1.CustomResourceDefinition{sprocket}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client := dynamic.NewForConfigOrDie(srv.RESTConfig())
	for gvr, ns := range map[schema.GroupVersionResource]string{
		{Group: "example.com", Version: "v1", Resource: "widgets"}:         "default",
		{Group: "example.com", Version: "v1", Resource: "gadgets"}:         "",
		{Group: "example.org", Version: "v1alpha1", Resource: "sprockets"}: "default",
	} {
		if _, err := client.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("%s right after Start: %v", gvr, err)
		}
	}
	widget := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w1"}, "spec": map[string]interface{}{"size": int64(3)}}}
	widgets := client.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("default")
	if _, err := widgets.Create(ctx, widget, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *auditv1.Event
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		events, err := srv.AuditEvents()
		for i, e := range events {
			if e.Verb == "create" && e.Stage == auditv1.StageResponseComplete {
				got = &events[i]
			}
		}
		return got != nil, err
	})
	if got == nil {
		t.Fatal("no ResponseComplete event of the widget's create")
	}
	ref := got.ObjectRef
	if ref == nil || ref.APIGroup != "example.com" || ref.APIVersion != "v1" || ref.Resource != "widgets" || ref.Namespace != "default" || ref.Name != "w1" ||
		got.ResponseStatus.Code != 201 || got.RequestObject == nil || !strings.Contains(string(got.RequestObject.Raw), `"size":3`) {
		t.Errorf("the create's event: objectRef %+v, code %d, request %s", ref, got.ResponseStatus.Code, got.RequestObject)
	}
}

// A document that does not parse, a missing path when ErrorIfPathMissing,
// and a CRD the server refuses fail Start, naming the file and the CRD.
func TestHarnessCRDErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(crdFile, "scope: Cluster", "scope: Cluster\n  scopes: [x]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := harness.Start(context.Background(), harness.Options{CRDs: &harness.CRDInstallOptions{Paths: []string{broken}}})
	if err == nil || !strings.Contains(err.Error(), "crds: "+broken+", document 3 (CustomResourceDefinition)") || !strings.Contains(err.Error(), `unknown field "scopes"`) {
		t.Errorf("misspelt field: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	_, err = harness.Start(context.Background(), harness.Options{CRDs: &harness.CRDInstallOptions{Paths: []string{missing}, ErrorIfPathMissing: true}})
	if err == nil || !strings.Contains(err.Error(), "crds: stat "+missing+": no such file or directory") {
		t.Errorf("missing path: %v", err)
	}
	refused := filepath.Join(dir, "refused.yaml")
	if err := os.WriteFile(refused, []byte(strings.Replace(crdFile, "name: gadgets.example.com", "name: gizmos.example.com", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = harness.Start(context.Background(), harness.Options{CRDs: &harness.CRDInstallOptions{Paths: []string{refused}}})
	if err == nil || !strings.Contains(err.Error(), `crds: CustomResourceDefinition "gizmos.example.com" (`+refused+`, document 3)`) ||
		!strings.Contains(err.Error(), `metadata.name: Invalid value: "gizmos.example.com": must be spec.names.plural+"."+spec.group`) {
		t.Errorf("refused CRD: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }
