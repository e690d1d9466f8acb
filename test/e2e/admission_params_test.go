package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// Whoever writes a policy with a paramKind must be able to read every
// object of that kind, and whoever binds one with a paramRef what it
// refers to (a policy reads its params with the server's rights): refused
// as kube-apiserver v1.37 refuses them, the messages recorded from it
// (including its MutatingAdmissionPolicyBinding message, which names the
// verb and the user the other way round).
func TestAdmissionPolicyParamAuthorization(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{Flags: []string{"--authorization-mode=Node,RBAC"},
		Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verbs: [create]\n  resources: [{group: admissionregistration.k8s.io}]\n"})
	got, err := paramAuthorizationScenario(context.Background(), s.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`policy, paramKind ConfigMap: ValidatingAdmissionPolicy.admissionregistration.k8s.io "kind-configmap" is invalid: spec.paramKind: Forbidden: user &{author  [system:authenticated] map[]} must have "get" permission on all objects of the referenced paramKind (kind=ConfigMap, apiVersion=v1)`,
		`policy, paramKind unknown: ValidatingAdmissionPolicy.admissionregistration.k8s.io "kind-unknown" is invalid: spec.paramKind: Forbidden: user &{author  [system:authenticated] map[]} must have "get" permission on all objects of the referenced paramKind (kind=Widget, apiVersion=example.com/v1)`,
		`policy, no paramKind: ok`,
		`binding, paramRef by name: ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io "named" is invalid: spec.paramRef: Forbidden: user &{author  [system:authenticated] map[]} does not have "get" permission on the object referenced by paramRef`,
		`binding, paramRef by selector: ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io "selected" is invalid: spec.paramRef: Forbidden: user &{author  [system:authenticated] map[]} does not have "list" permission on the object referenced by paramRef`,
		`binding of a missing policy: ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io "missing" is invalid: spec.paramRef: Forbidden: unable to get policy missing to determine minimum required permissions and user &{author  [system:authenticated] map[]} does not have "get" permission for all groups, versions and resources`,
		`mutating binding, paramRef by name: MutatingAdmissionPolicyBinding.admissionregistration.k8s.io "named" is invalid: spec.paramRef: Forbidden: user get does not have "&{author  [system:authenticated] map[]}" permission on the object referenced by paramRef`,
		`binding, paramRef by name, readable: ok`,
		`policy, paramKind ConfigMap, readable in one namespace: ValidatingAdmissionPolicy.admissionregistration.k8s.io "kind-configmap" is invalid: spec.paramKind: Forbidden: user &{author  [system:authenticated] map[]} must have "get" permission on all objects of the referenced paramKind (kind=ConfigMap, apiVersion=v1)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outcomes:\n%s\nwant (kube-apiserver v1.37's):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	waitForEvents(t, s.AuditEvents, []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 422,
		RequestURI: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", User: "kubernetes-admin", ImpersonatedUser: "author",
		Resource: "validatingadmissionpolicies", Name: "kind-configmap", AuthorizeDecision: "allow"}})
}

// paramAuthorizationScenario has "author", who may write admission
// policies and bindings but not read ConfigMaps, write policies and
// bindings with params; it returns each step's outcome (the error message,
// or "ok").
func paramAuthorizationScenario(ctx context.Context, admin *rest.Config) ([]string, error) {
	adminClient, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	authorCfg := rest.CopyConfig(admin)
	authorCfg.Impersonate = rest.ImpersonationConfig{UserName: "author"}
	author, err := kubernetes.NewForConfig(authorCfg)
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{"params"} {
		if _, err := adminClient.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	if _, err := adminClient.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "policy-author"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"create", "update", "get"}, APIGroups: []string{"admissionregistration.k8s.io"},
			Resources: []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"}}}},
		metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := adminClient.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "policy-author"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "policy-author"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "author"}}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	// RBAC takes effect when the authorizer's informers have it.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		review, err := author.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "create", Group: "admissionregistration.k8s.io", Resource: "mutatingadmissionpolicybindings"}}}, metav1.CreateOptions{})
		return err == nil && review.Status.Allowed, nil
	}); err != nil {
		return nil, fmt.Errorf("the author's role never took effect: %w", err)
	}
	configmaps := &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
		RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}}
	vap := func(name string, kind *admissionregistrationv1.ParamKind) *admissionregistrationv1.ValidatingAdmissionPolicy {
		return &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind: kind, MatchConstraints: configmaps, Validations: []admissionregistrationv1.Validation{{Expression: "true"}}}}
	}
	vapb := func(name, policy string, ref *admissionregistrationv1.ParamRef) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
		return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: policy, ParamRef: ref, ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}}
	}
	configMap := &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
	named := &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "params", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
	selected := &admissionregistrationv1.ParamRef{Selector: &metav1.LabelSelector{}, Namespace: "params", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
	vaps, vapbs := author.AdmissionregistrationV1().ValidatingAdmissionPolicies(), author.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	outcome := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	var out []string
	step := func(name string, err error) { out = append(out, name+": "+outcome(err)) }
	_, err = vaps.Create(ctx, vap("kind-configmap", configMap), metav1.CreateOptions{})
	step("policy, paramKind ConfigMap", err)
	_, err = vaps.Create(ctx, vap("kind-unknown", &admissionregistrationv1.ParamKind{APIVersion: "example.com/v1", Kind: "Widget"}), metav1.CreateOptions{})
	step("policy, paramKind unknown", err)
	_, err = vaps.Create(ctx, vap("no-params", nil), metav1.CreateOptions{})
	step("policy, no paramKind", err)
	if _, err := adminClient.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, vap("with-params", configMap), metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := adminClient.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "with-params"}, Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{ParamKind: configMap, MatchConstraints: configmaps,
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{metadata: Object.metadata{labels: {"a": "b"}}}`}}}}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	_, err = vapbs.Create(ctx, vapb("named", "with-params", named), metav1.CreateOptions{})
	step("binding, paramRef by name", err)
	_, err = vapbs.Create(ctx, vapb("selected", "with-params", selected), metav1.CreateOptions{})
	step("binding, paramRef by selector", err)
	_, err = vapbs.Create(ctx, vapb("missing", "missing", named), metav1.CreateOptions{})
	step("binding of a missing policy", err)
	_, err = author.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "named"}, Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "with-params", ParamRef: named}}, metav1.CreateOptions{})
	step("mutating binding, paramRef by name", err)
	if _, err := adminClient.RbacV1().Roles("params").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-params"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := adminClient.RbacV1().RoleBindings("params").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-params"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-params"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "author"}}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	// Retried while refused: the Role takes effect when the authorizer's
	// informers have it.
	_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = vapbs.Create(ctx, vapb("named", "with-params", named), metav1.CreateOptions{})
		return !apierrors.IsInvalid(err), nil
	})
	step("binding, paramRef by name, readable", err)
	_, err = vaps.Create(ctx, vap("kind-configmap", configMap), metav1.CreateOptions{})
	step("policy, paramKind ConfigMap, readable in one namespace", err)
	return out, nil
}
