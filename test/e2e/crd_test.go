package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/dynamic"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wd]}
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
              size: {type: integer, description: "How big the widget is."}
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
`

// The policy records widgets at RequestResponse and CRDs at Metadata, as
// a policy about custom resources is written.
const crdPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse
  resources: [{group: example.com, resources: [widgets, widgets/status]}]
- level: Metadata
  resources: [{group: apiextensions.k8s.io}]
- level: None
`

var widgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

// A CRD as a user meets it with kubectl: applied and Established, its
// resources in discovery, printer columns, `kubectl explain`, short names;
// custom resources watched, admitted by a ValidatingAdmissionPolicy, and
// deleted with their CRD (the customresourcecleanup finalizer) and with
// their namespace; each request audited with the CRD's group, version and
// resource, at the level auditctl explain predicts.
func TestCustomResourcesWithKubectl(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, policy := filepath.Join(dir, "audit.log"), writePolicy(t, crdPolicy)
	s := startServer(t, "--audit-policy-file="+policy, "--audit-log-path="+log)
	ctx := context.Background()
	if out := s.KubectlEnv(nil, widgetCRD, "apply", "-f", "-"); out.Err != nil || !strings.Contains(out.Stdout, "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created") {
		t.Fatalf("apply: %v %s %s", out.Err, out.Stdout, out.Stderr)
	}
	s.Kubectl("wait", "--for", "condition=established", "crd/widgets.example.com", "--timeout=30s")
	if got := s.Kubectl("get", "crd", "widgets.example.com", "-o", `jsonpath={range .status.conditions[*]}{.type}={.status} {end}`); got != "NamesAccepted=True Established=True " {
		t.Errorf("conditions: %q", got)
	}
	if got := s.Kubectl("api-resources", "--api-group=example.com", "--no-headers"); !strings.Contains(got, "widgets") || !strings.Contains(got, "wd") || !strings.Contains(got, "Widget") {
		t.Errorf("api-resources: %q", got)
	}
	if got := s.Kubectl("explain", "widget.spec.size"); !strings.Contains(got, "FIELD: size <integer>") || !strings.Contains(got, "How big the widget is.") {
		t.Errorf("explain: %q", got)
	}

	client := dynamic.NewForConfigOrDie(s.RESTConfig())
	createNamespace(t, s.Client(), "demo")
	list, err := client.Resource(widgets).Namespace("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := client.Resource(widgets).Namespace("demo").Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if out := s.KubectlEnv(nil, `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"demo"},"spec":{"size":3}}`, "apply", "-f", "-"); out.Err != nil {
		t.Fatal(out.Stderr)
	}
	s.Kubectl("patch", "wd", "w1", "-n", "demo", "--type=merge", "-p", `{"spec":{"size":4}}`)
	if got := s.Kubectl("get", "widgets", "-n", "demo"); !strings.Contains(got, "SIZE") || !strings.Contains(got, "w1     4") {
		t.Errorf("get with printer columns: %q", got)
	}
	s.Kubectl("delete", "widget", "w1", "-n", "demo")
	var seen []watch.EventType
	timeout := time.After(waitShort)
	for len(seen) < 3 {
		select {
		case ev := <-w.ResultChan():
			seen = append(seen, ev.Type)
		case <-timeout:
			t.Fatalf("watch: %v, want ADDED MODIFIED DELETED", seen)
		}
	}
	if fmt.Sprint(seen) != "[ADDED MODIFIED DELETED]" {
		t.Errorf("watch events %v", seen)
	}

	// A ValidatingAdmissionPolicy on widgets, as on built-in resources.
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "small-widgets"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
			RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"example.com"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"}}}}}},
		Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.size <= 5", Message: "at most 5"}}}}
	if _, err := s.Client().AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, vap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "small-widgets"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "small-widgets",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	big := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]interface{}{"name": name}, "spec": map[string]interface{}{"size": int64(7)}}}
	}
	i := 0
	eventually(t, waitShort, "the policy to be enforced on widgets", func() (bool, error) {
		i++
		_, err := client.Resource(widgets).Namespace("demo").Create(ctx, big(fmt.Sprintf("probe-%d", i)), metav1.CreateOptions{})
		return err != nil, nil
	})
	_, err = client.Resource(widgets).Namespace("demo").Create(ctx, big("big"), metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `widgets.example.com "big" is forbidden: ValidatingAdmissionPolicy 'small-widgets' with binding 'small-widgets' denied request: at most 5`)

	// Deleting the CRD deletes its widgets; deleting a namespace, its own.
	for _, ns := range []string{"demo", "default"} {
		if _, err := client.Resource(widgets).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1",
			"kind": "Widget", "metadata": map[string]interface{}{"name": "kept"}, "spec": map[string]interface{}{"size": int64(1)}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Kubectl("delete", "namespace", "demo", "--timeout=30s")
	if _, err := client.Resource(widgets).Namespace("demo").Get(ctx, "kept", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a widget of a deleted namespace: %v", err)
	}
	s.Kubectl("delete", "crd", "widgets.example.com", "--timeout=30s")
	if out := s.KubectlEnv(nil, "", "get", "widgets", "-A"); out.Err == nil {
		t.Errorf("widgets after their CRD was deleted: %q", out.Stdout)
	}

	widgetEvent := func(verb, uri string, code int32, ns, name string) expect.Event {
		return expect.Event{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: verb, RequestURI: uri, Code: code,
			User: "kubernetes-admin", Resource: "widgets", Namespace: ns, Name: name, RequestObject: verb != "get" && verb != "list" && verb != "watch",
			ResponseObject: verb != "watch", AuthorizeDecision: "allow"}
	}
	events := waitForEvents(t, func() ([]auditv1.Event, error) { return expect.ReadFile(log) }, []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 201, User: "kubernetes-admin",
			RequestURI: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
			Resource:   "customresourcedefinitions", Name: "widgets.example.com", AuthorizeDecision: "allow"},
		widgetEvent("create", "/apis/example.com/v1/namespaces/demo/widgets?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", 201, "demo", "w1"),
		widgetEvent("patch", "/apis/example.com/v1/namespaces/demo/widgets/w1?fieldManager=kubectl-patch", 200, "demo", "w1"),
		widgetEvent("delete", "/apis/example.com/v1/namespaces/demo/widgets/w1", 200, "demo", "w1"), // kubectl sends DeleteOptions
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 422, User: "kubernetes-admin",
			RequestURI: "/apis/example.com/v1/namespaces/demo/widgets", Resource: "widgets", Namespace: "demo", Name: "big", RequestObject: true, ResponseObject: true,
			AuthorizeDecision: "allow", Annotations: map[string]string{"validation.policy.admission.k8s.io/validation_failure": `[{"message":"at most 5","policy":"small-widgets","binding":"small-widgets","expressionIndex":0,"validationActions":["Deny","Audit"]}]`}},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "delete", Code: 200, User: "kubernetes-admin",
			RequestURI: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com", Resource: "customresourcedefinitions", Name: "widgets.example.com", AuthorizeDecision: "allow"},
	})
	for _, e := range events {
		if e.ObjectRef != nil && e.ObjectRef.Resource == "widgets" && (e.ObjectRef.APIGroup != "example.com" || e.ObjectRef.APIVersion != "v1") {
			t.Errorf("a widget's objectRef: %+v", e.ObjectRef)
		}
	}
	// What the server recorded is what auditctl explain says of it.
	for _, c := range []struct{ args, level string }{
		{"--verb create --resource widgets --api-group example.com --namespace demo", "RequestResponse"},
		{"--verb delete --resource customresourcedefinitions --api-group apiextensions.k8s.io", "Metadata"},
		{"--verb get --resource widgets --api-group example.org --namespace demo", "None"},
	} {
		out, err := exec.Command(auditctlBin, append([]string{"explain", "--policy", policy, "--user", "kubernetes-admin"}, strings.Fields(c.args)...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "level:          "+c.level) {
			t.Errorf("auditctl explain %s: %v\n%s", c.args, err, out)
		}
	}
}
