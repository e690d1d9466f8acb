package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// ValidatingAdmissionPolicies as the library's plugin enforces them and the
// audit trail records them: Deny (422 with kube's message), Warn (a
// warning to the client), Audit (validation_failure in the event), the
// policy's auditAnnotations under its name, a ConfigMap as params, match
// conditions, and failurePolicy deciding on an expression that fails at
// run time.
func TestValidatingAdmissionPolicy(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [configmaps]}]\n"})
	client := s.Client()
	ctx := context.Background()
	for _, ns := range []string{"deny", "warn", "params", "failing"} {
		createNamespace(t, client, ns)
	}
	if _, err := client.CoreV1().ConfigMaps("params").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Data: map[string]string{"maxKeys": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	configmaps := &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
		RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}}
	inNamespace := func(ns string) *admissionregistrationv1.MatchResources {
		return &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}
	}
	policies := []*admissionregistrationv1.ValidatingAdmissionPolicy{
		{ObjectMeta: metav1.ObjectMeta{Name: "max-keys"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: configmaps,
			MatchConditions:  []admissionregistrationv1.MatchCondition{{Name: "not-exempt", Expression: `!has(object.metadata.labels) || !('exempt' in object.metadata.labels)`}},
			Validations:      []admissionregistrationv1.Validation{{Expression: "size(object.data) <= 2", Message: "at most two keys"}},
			AuditAnnotations: []admissionregistrationv1.AuditAnnotation{{Key: "keys", ValueExpression: "string(size(object.data))"}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "max-keys-param"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind:        &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			MatchConstraints: configmaps,
			Validations: []admissionregistrationv1.Validation{{Expression: "size(object.data) <= int(params.data.maxKeys)",
				MessageExpression: `"at most " + params.data.maxKeys + " keys"`}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "needs-owner"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: configmaps, FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			Validations: []admissionregistrationv1.Validation{{Expression: "object.data.owner != ''"}},
		}},
	}
	bindings := []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: "max-keys-deny"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "max-keys", MatchResources: inNamespace("deny"), ValidationActions: []admissionregistrationv1.ValidationAction{"Deny", "Audit"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "max-keys-warn"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "max-keys", MatchResources: inNamespace("warn"), ValidationActions: []admissionregistrationv1.ValidationAction{"Warn", "Audit"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "max-keys-param"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "max-keys-param", MatchResources: inNamespace("params"), ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"},
			ParamRef: &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "params", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "needs-owner"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "needs-owner", MatchResources: inNamespace("failing"), ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"}}},
	}
	for _, p := range policies {
		if _, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bindings {
		if _, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	three := map[string]string{"a": "1", "b": "2", "c": "3"}
	create := func(ns, name string, data, labels map[string]string) error {
		_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: data}, metav1.CreateOptions{})
		return err
	}
	// The policies take effect when the server's informers have them.
	i := 0
	eventually(t, waitShort, "the policies to be enforced", func() (bool, error) {
		i++
		return create("deny", fmt.Sprintf("probe-%d", i), three, nil) != nil, nil
	})

	err := create("deny", "too-big", three, nil)
	wantStatus(t, err, http.StatusUnprocessableEntity, `configmaps "too-big" is forbidden: ValidatingAdmissionPolicy 'max-keys' with binding 'max-keys-deny' denied request: at most two keys`)
	if err := create("deny", "exempt", three, map[string]string{"exempt": "yes"}); err != nil {
		t.Errorf("a configmap the match condition exempts: %v", err)
	}
	out := s.KubectlEnv(nil, "", "create", "configmap", "-n", "warn", "warned", "--from-literal=a=1", "--from-literal=b=2", "--from-literal=c=3")
	if out.Err != nil || !strings.Contains(out.Stderr, "Warning: Validation failed for ValidatingAdmissionPolicy 'max-keys' with binding 'max-keys-warn': at most two keys") {
		t.Errorf("Warn: %v, stderr %q", out.Err, out.Stderr)
	}
	err = create("params", "two", map[string]string{"a": "1", "b": "2"}, nil)
	wantStatus(t, err, http.StatusUnprocessableEntity, `configmaps "two" is forbidden: ValidatingAdmissionPolicy 'max-keys-param' with binding 'max-keys-param' denied request: at most 1 keys`)
	err = create("failing", "ownerless", map[string]string{"a": "1"}, nil)
	wantStatus(t, err, http.StatusUnprocessableEntity, `configmaps "ownerless" is forbidden: ValidatingAdmissionPolicy 'needs-owner' with binding 'needs-owner' denied request: expression 'object.data.owner != ''' resulted in error: no such key: owner`)

	event := func(ns, name, uri string, code int32, annotations map[string]string) expect.Event {
		return expect.Event{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: uri, Verb: "create", Code: code,
			User: "kubernetes-admin", Resource: "configmaps", Namespace: ns, Name: name, AuthorizeDecision: "allow", Annotations: annotations}
	}
	failure := func(binding, actions string) string {
		return `[{"message":"at most two keys","policy":"max-keys","binding":"` + binding + `","expressionIndex":0,"validationActions":` + actions + `}]`
	}
	waitForEvents(t, s.AuditEvents, []expect.Event{
		event("deny", "too-big", "/api/v1/namespaces/deny/configmaps", 422, map[string]string{"max-keys/keys": "3",
			"validation.policy.admission.k8s.io/validation_failure": failure("max-keys-deny", `["Deny","Audit"]`)}),
		event("warn", "warned", "/api/v1/namespaces/warn/configmaps?fieldManager=kubectl-create&fieldValidation=Strict", 201, map[string]string{"max-keys/keys": "3",
			"validation.policy.admission.k8s.io/validation_failure": failure("max-keys-warn", `["Warn","Audit"]`)}),
		event("params", "two", "/api/v1/namespaces/params/configmaps", 422, nil),
		event("failing", "ownerless", "/api/v1/namespaces/failing/configmaps", 422, nil),
	})
}

// A policy whose expressions refer to what its objects do not have is
// accepted, and kube-controller-manager's type checker says so in its
// status; a corrected policy's status is checked again. The controller's
// writes are audited under its identity.
func TestValidatingAdmissionPolicyTypeChecking(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: admissionregistration.k8s.io, resources: [validatingadmissionpolicies/status]}]\n"})
	policies := s.Client().AdmissionregistrationV1().ValidatingAdmissionPolicies()
	ctx := context.Background()
	policy, err := policies.Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "replicas"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "size(object.data) < 3"}, {Expression: "object.spec.replicas > 0"}},
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checked := func(generation int64) *admissionregistrationv1.ValidatingAdmissionPolicy {
		var got *admissionregistrationv1.ValidatingAdmissionPolicy
		eventually(t, waitShort, fmt.Sprintf("type checking of generation %d", generation), func() (bool, error) {
			var err error
			got, err = policies.Get(ctx, "replicas", metav1.GetOptions{})
			return err == nil && got.Status.ObservedGeneration == generation, err
		})
		return got
	}
	var warnings []admissionregistrationv1.ExpressionWarning
	if tc := checked(1).Status.TypeChecking; tc != nil {
		warnings = tc.ExpressionWarnings
	}
	if len(warnings) != 1 || warnings[0].FieldRef != "spec.validations[1].expression" ||
		!strings.Contains(warnings[0].Warning, "/v1, Kind=ConfigMap: ERROR: <input>:1:7: undefined field 'spec'") {
		t.Errorf("warnings of a policy that refers to a ConfigMap's spec: %+v", warnings)
	}
	policy = checked(1)
	policy.Spec.Validations = policy.Spec.Validations[:1]
	if _, err := policies.Update(ctx, policy, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No warnings: server-side apply leaves out the empty typeChecking.
	if tc := checked(2).Status.TypeChecking; tc != nil && len(tc.ExpressionWarnings) != 0 {
		t.Errorf("warnings of the corrected policy: %+v", tc.ExpressionWarnings)
	}
	status := expect.Event{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "patch", Code: 200,
		RequestURI: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/replicas/status?fieldManager=validatingadmissionpolicy-status&force=true",
		User:       "system:serviceaccount:kube-system:validatingadmissionpolicy-status-controller", Resource: "validatingadmissionpolicies", Subresource: "status",
		Name: "replicas", AuthorizeDecision: "allow"}
	waitForEvents(t, s.AuditEvents, []expect.Event{status, status})
}

// A policy is validated as kube validates it: an expression that does not
// compile, a binding with both Deny and Warn, a paramRef with neither name
// nor selector are 422 with kube's messages.
func TestValidatingAdmissionPolicyBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	out := s.KubectlFail(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: broken}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  validations:
  - expression: "object.data.size() >"
  auditAnnotations:
  - key: "bad key"
    valueExpression: "1"
`, "apply", "-f", "-")
	for _, want := range []string{
		`The ValidatingAdmissionPolicy "broken" is invalid:`,
		`spec.validations[0].expression: Invalid value: "object.data.size() >": compilation failed: ERROR: <input>:1:21: Syntax error: mismatched input '<EOF>'`,
		`spec.auditAnnotations[0].key: Invalid value: "broken/bad key": name part must consist of alphanumeric characters`,
		`spec.auditAnnotations[0].valueExpression: Invalid value: "1": must evaluate to one of [string null_type]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("broken policy: want %q in\n%s", want, out)
		}
	}
	out = s.KubectlFail(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: both}
spec:
  policyName: p
  validationActions: [Deny, Warn]
  paramRef: {parameterNotFoundAction: Deny}
`, "apply", "-f", "-")
	for _, want := range []string{
		`spec.paramRef: Required value: one of name or selector must be specified`,
		`spec.validationActions: Invalid value: ["Deny","Warn"]: must not contain both Deny and Warn`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bad binding: want %q in\n%s", want, out)
		}
	}
}

// A MutatingAdmissionPolicy (admissionregistration.k8s.io/v1, on by
// default in v1.37) changes what is created, by an apply configuration and
// by a JSON patch, as the library's plugin does; the audit event's response
// object is the changed object. A policy that would mutate deletes is
// refused with kube's message.
func TestMutatingAdmissionPolicy(t *testing.T) {
	t.Parallel()
	const ns = "mutated"
	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n  namespaces: [" + ns + "]\n  resources: [{group: \"\", resources: [configmaps]}]\n"})
	client := s.Client()
	createNamespace(t, client, ns)
	out := s.Kubectl("apply", "-f", writeFile(t, "stamp.yaml", `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: stamp}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  reinvocationPolicy: Never
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'Object{metadata: Object.metadata{labels: {"mutated-by": "policy"}}}'
  - patchType: JSONPatch
    jsonPatch:
      expression: '[JSONPatch{op: "add", path: "/data/added", value: "yes"}]'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: stamp}
spec:
  policyName: stamp
  matchResources:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: `+ns+`}}
`))
	if !strings.Contains(out, "mutatingadmissionpolicy.admissionregistration.k8s.io/stamp created") {
		t.Fatalf("apply: %s", out)
	}
	if got := s.Kubectl("get", "mutatingadmissionpolicies,mutatingadmissionpolicybindings"); !strings.Contains(got, "MUTATIONS") || !regexpMatch(`/stamp\s+2\s+<unset>`, got) || !regexpMatch(`/stamp\s+stamp\s+<unset>`, got) {
		t.Errorf("columns:\n%s", got)
	}
	i := 0
	eventually(t, waitShort, "the policy to mutate", func() (bool, error) {
		i++
		cm, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c-%d", i)},
			Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
		return err == nil && cm.Labels["mutated-by"] == "policy" && cm.Data["added"] == "yes", nil
	})
	name := fmt.Sprintf("c-%d", i)
	events := waitForEvents(t, s.AuditEvents, []expect.Event{{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete,
		RequestURI: "/api/v1/namespaces/" + ns + "/configmaps", Verb: "create", Code: 201, User: "kubernetes-admin", Resource: "configmaps",
		Namespace: ns, Name: name, RequestObject: true, ResponseObject: true, AuthorizeDecision: "allow"}})
	for _, e := range events {
		if e.ObjectRef != nil && e.ObjectRef.Name == name && e.Stage == auditv1.StageResponseComplete {
			if r := string(e.ResponseObject.Raw); !strings.Contains(r, `"mutated-by":"policy"`) || !strings.Contains(r, `"added":"yes"`) {
				t.Errorf("response object %s: want the policy's label and key", r)
			}
			if r := string(e.RequestObject.Raw); strings.Contains(r, "mutated-by") {
				t.Errorf("request object %s: want what the client sent", r)
			}
		}
	}

	out = s.KubectlFail(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: deletes}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [DELETE], resources: [configmaps]}]
  mutations:
  - patchType: JSONPatch
`, "apply", "-f", "-")
	for _, want := range []string{
		`spec.matchConstraints.resourceRules.operations: Unsupported value: "DELETE": supported values: "*", "CONNECT", "CREATE", "UPDATE"`,
		`spec.mutations[0].jsonPatch: Required value: must be specified when patchType is JSONPatch`,
		`spec.reinvocationPolicy: Required value`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
}
