package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

const auditEverything = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"

// rbacServer starts a server with kubeadm's --authorization-mode and an
// audit log of every request.
func rbacServer(t *testing.T) (*apiServer, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--authorization-mode=Node,RBAC", "--audit-policy-file="+writePolicy(t, auditEverything), "--audit-log-path="+log)
	return s, log
}

// TestRBAC plays RBAC's life with kubectl and client-go: bootstrap policy,
// roles and bindings, kube's reasons in the audit log, escalation, bind and
// escalate, aggregation, can-i --list, a restart.
func TestRBAC(t *testing.T) {
	t.Parallel()
	s, log := rbacServer(t)
	ctx := context.Background()

	t.Run("Node is named in the start-up warning", func(t *testing.T) {
		if !strings.Contains(s.Stderr(), "--authorization-mode=Node (there are no nodes: the Node authorizer has no opinion)") {
			t.Errorf("no start-up warning about Node in:\n%s", s.Stderr())
		}
	})
	t.Run("bootstrap policy", func(t *testing.T) {
		out := s.Kubectl("get", "clusterroles", "-o", "name")
		for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:aggregate-to-view", "system:basic-user",
			"system:discovery", "system:public-info-viewer", "system:monitoring"} {
			if !strings.Contains(out, "clusterrole.rbac.authorization.k8s.io/"+name+"\n") {
				t.Errorf("clusterrole %s missing from:\n%s", name, out)
			}
		}
		out = s.Kubectl("get", "clusterrolebinding", "cluster-admin", "system:public-info-viewer", "-o", "wide")
		if !regexpMatch(`(?m)^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS\n`+
			`cluster-admin\s+ClusterRole/cluster-admin\s+\S+\s+system:masters\s*\n`+
			`system:public-info-viewer\s+ClusterRole/system:public-info-viewer\s+\S+\s+system:authenticated, system:unauthenticated`, out) {
			t.Errorf("kubectl get clusterrolebinding -o wide:\n%s", out)
		}
		// Aggregation fills admin, edit and view from the aggregate-to roles.
		eventually(t, waitShort, "view to aggregate system:aggregate-to-view", func() (bool, error) {
			view, err := s.Client().RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
			return err == nil && len(view.Rules) > 5, err
		})
	})

	s.Kubectl("create", "namespace", "team")
	s.Kubectl("-n", "team", "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods")
	s.Kubectl("-n", "team", "create", "rolebinding", "pod-reader", "--role=pod-reader", "--user=alice")
	alice := userClient(t, s, "alice")

	t.Run("tables", func(t *testing.T) {
		if out := s.Kubectl("-n", "team", "get", "role"); !regexpMatch(`^NAME\s+CREATED AT\npod-reader\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$`, out) {
			t.Errorf("kubectl get role:\n%s", out)
		}
		if out := s.Kubectl("-n", "team", "get", "rolebinding"); !regexpMatch(`^NAME\s+ROLE\s+AGE\npod-reader\s+Role/pod-reader\s+\d+s\n$`, out) {
			t.Errorf("kubectl get rolebinding:\n%s", out)
		}
		if out := s.Kubectl("explain", "clusterrole.aggregationRule"); !strings.Contains(out, "clusterRoleSelectors") {
			t.Errorf("kubectl explain clusterrole.aggregationRule:\n%s", out)
		}
	})
	t.Run("allowed and denied", func(t *testing.T) {
		eventually(t, waitShort, "alice's binding to reach the authorizer", func() (bool, error) {
			_, err := alice.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
			return err == nil, err
		})
		_, err := alice.CoreV1().Pods("team").Create(ctx, newPod("team", "p"), metav1.CreateOptions{})
		wantStatus(t, err, http.StatusForbidden, `pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "team"`)
		_, err = alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		wantStatus(t, err, http.StatusForbidden, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`)
		if out := s.Kubectl("auth", "can-i", "--list", "-n", "team", "--as", "alice"); !regexpMatch(`(?m)^pods\s+\[\]\s+\[\]\s+\[get list watch\]$`, out) {
			t.Errorf("kubectl auth can-i --list --as alice:\n%s", out)
		}
	})
	t.Run("kube's reasons in the audit log", func(t *testing.T) {
		review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "team"}}
		if _, err := alice.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, review, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Discovery().ServerGroups(); err != nil {
			t.Fatal(err)
		}
		reason := func(r string) map[string]string { return map[string]string{"authorization.k8s.io/reason": r} }
		event := func(verb, uri, resource, ns string, code int32, decision, why string) expect.Event {
			return expect.Event{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, User: "alice", Verb: verb, RequestURI: uri,
				Resource: resource, Namespace: ns, Code: code, AuthorizeDecision: decision, Annotations: reason(why)}
		}
		waitForEvents(t, logReader(log), []expect.Event{
			event("list", "/api/v1/namespaces/team/pods", "pods", "team", 200, "allow",
				`RBAC: allowed by RoleBinding "pod-reader/team" of Role "pod-reader" to User "alice"`),
			event("create", "/api/v1/namespaces/team/pods", "pods", "team", 403, "forbid", ""),
			event("create", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "selfsubjectrulesreviews", "", 201, "allow",
				`RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"`),
			event("get", "/api", "", "", 200, "allow",
				`RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"`),
		})
	})
	t.Run("escalation", func(t *testing.T) {
		s.Kubectl("-n", "team", "create", "rolebinding", "carol-admin", "--clusterrole=admin", "--user=carol")
		carol := userClient(t, s, "carol")
		eventually(t, waitShort, "carol's binding to reach the authorizer", func() (bool, error) {
			_, err := carol.RbacV1().Roles("team").List(ctx, metav1.ListOptions{})
			return err == nil, err
		})
		held := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "held"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "delete"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}
		if _, err := carol.RbacV1().Roles("team").Create(ctx, held, metav1.CreateOptions{}); err != nil {
			t.Errorf("a role within what carol holds: %v", err)
		}
		nodes := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "nodes"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}}
		_, err := carol.RbacV1().Roles("team").Create(ctx, nodes, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusForbidden, `roles.rbac.authorization.k8s.io "nodes" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`+
			"\n"+`{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}`)
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dave-admin"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}}
		_, err = carol.RbacV1().RoleBindings("team").Create(ctx, binding, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `is attempting to grant RBAC permissions not currently held:`) {
			t.Errorf("binding cluster-admin without holding it: %v", err)
		}
		// With "bind" on cluster-admin and "escalate" on roles, both pass.
		// (A create names no object, so "escalate" cannot be limited by name.)
		s.Kubectl("create", "clusterrole", "binder", "--verb=bind", "--resource=clusterroles", "--resource-name=cluster-admin")
		s.Kubectl("create", "clusterrole", "escalator", "--verb=escalate", "--resource=roles")
		s.Kubectl("-n", "team", "create", "rolebinding", "carol-binder", "--clusterrole=binder", "--user=carol")
		s.Kubectl("-n", "team", "create", "rolebinding", "carol-escalator", "--clusterrole=escalator", "--user=carol")
		eventually(t, waitShort, "carol may bind cluster-admin", func() (bool, error) {
			_, err := carol.RbacV1().RoleBindings("team").Create(ctx, binding, metav1.CreateOptions{})
			return err == nil, err
		})
		eventually(t, waitShort, "carol may escalate roles", func() (bool, error) {
			_, err := carol.RbacV1().Roles("team").Create(ctx, nodes, metav1.CreateOptions{})
			return err == nil, err
		})
	})
	t.Run("cluster roles: aggregation rules and updates", func(t *testing.T) {
		s.Kubectl("create", "clusterrole", "role-maker", "--verb=create,update,get", "--resource=clusterroles")
		s.Kubectl("create", "clusterrolebinding", "dave-role-maker", "--clusterrole=role-maker", "--user=dave")
		dave := userClient(t, s, "dave")
		mine := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "daves"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}}}}
		eventually(t, waitShort, "dave to create a role within what he holds", func() (bool, error) {
			_, err := dave.RbacV1().ClusterRoles().Create(ctx, mine, metav1.CreateOptions{})
			return err == nil, err
		})
		aggregating := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gatherer"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}}
		_, err := dave.RbacV1().ClusterRoles().Create(ctx, aggregating, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusForbidden, `clusterroles.rbac.authorization.k8s.io "gatherer" is forbidden: must have cluster-admin privileges to use the aggregationRule`)
		current, err := dave.RbacV1().ClusterRoles().Get(ctx, "daves", metav1.GetOptions{})
		mustDo(t, err)
		current.Rules = append(current.Rules, rbacv1.PolicyRule{Verbs: []string{"delete"}, APIGroups: []string{""}, Resources: []string{"pods"}})
		_, err = dave.RbacV1().ClusterRoles().Update(ctx, current, metav1.UpdateOptions{})
		wantStatus(t, err, http.StatusForbidden, `clusterroles.rbac.authorization.k8s.io "daves" is forbidden: user "dave" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`+
			"\n"+`{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`)
	})
	t.Run("aggregation widens view", func(t *testing.T) {
		// A role for a resource this server does not serve, as a CRD's would be.
		s.KubectlEnv(nil, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widgets-viewer}
rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get]}]
`, "create", "-f", "-")
		s.Kubectl("label", "clusterrole", "widgets-viewer", "rbac.authorization.k8s.io/aggregate-to-view=true")
		for _, role := range []string{"view", "edit", "admin"} {
			eventually(t, waitShort, role+" to aggregate widgets-viewer", func() (bool, error) {
				return strings.Contains(s.Kubectl("get", "clusterrole", role, "-o", "jsonpath={.rules[*].resources}"), `"widgets"`), nil
			})
		}
	})
	t.Run("bad objects", func(t *testing.T) {
		for _, tc := range []struct{ name, yaml, want string }{
			{"no verbs", "kind: Role\nmetadata: {name: r, namespace: team}\nrules: [{apiGroups: [''], resources: [pods]}]",
				`rules[0].verbs: Required value: verbs must contain at least one value`},
			{"URL in a Role", "kind: Role\nmetadata: {name: r, namespace: team}\nrules: [{verbs: [get], nonResourceURLs: [/x]}]",
				`rules[0].nonResourceURLs: Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs`},
			{"resources and URLs", "kind: ClusterRole\nmetadata: {name: r}\nrules: [{verbs: [get], apiGroups: [''], resources: [pods], nonResourceURLs: [/x]}]",
				`rules[0].nonResourceURLs: Invalid value: ["/x"]: rules cannot apply to both regular resources and non-resource URLs`},
			{"no resources", "kind: ClusterRole\nmetadata: {name: r}\nrules: [{verbs: [get], apiGroups: ['']}]",
				`rules[0].resources: Required value: resource rules must supply at least one resource`},
			{"empty aggregation", "kind: ClusterRole\nmetadata: {name: r}\naggregationRule: {clusterRoleSelectors: []}",
				`aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil`},
			{"role ref kind", "kind: RoleBinding\nmetadata: {name: b, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Foo, name: x}",
				`roleRef.kind: Unsupported value: "Foo": supported values: "Role", "ClusterRole"`},
			{"cluster binding to a Role", "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: x}",
				`roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`},
			{"service account without namespace", "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: sa}]",
				`subjects[0].namespace: Required value`},
			{"subject kind", "kind: RoleBinding\nmetadata: {name: b, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: x}\nsubjects: [{kind: Robot, name: r2}]",
				`subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"`},
			{"role name", "kind: Role\nmetadata: {name: 'a/b', namespace: team}\nrules: []",
				`metadata.name: Invalid value: "a/b": may not contain '/'`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := s.KubectlFail("apiVersion: rbac.authorization.k8s.io/v1\n"+tc.yaml+"\n", "create", "-f", "-")
				if !strings.Contains(out, tc.want) {
					t.Errorf("kubectl create: %s\nwant %q", out, tc.want)
				}
			})
		}
		out := s.KubectlFail("", "-n", "team", "patch", "rolebinding", "pod-reader", "--type=merge", "-p", `{"roleRef":{"name":"other"}}`)
		if !strings.Contains(out, `roleRef: Invalid value:`) || !strings.Contains(out, `field is immutable`) {
			t.Errorf("changing a roleRef: %s", out)
		}
	})
	t.Run("restart", func(t *testing.T) {
		// A bootstrap binding stripped of its subjects comes back on the next
		// start; a bootstrap role annotated autoupdate=false is left alone.
		s.Kubectl("patch", "clusterrolebinding", "system:discovery", "--type=json", "-p", `[{"op":"remove","path":"/subjects"}]`)
		s.Kubectl("annotate", "--overwrite", "clusterrole", "system:monitoring", "rbac.authorization.kubernetes.io/autoupdate=false")
		s.Kubectl("patch", "clusterrole", "system:monitoring", "--type=json", "-p", `[{"op":"remove","path":"/rules/1"}]`)
		if err := s.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		alice := userClient(t, s, "alice")
		eventually(t, waitShort, "alice's role to survive a restart", func() (bool, error) {
			_, err := alice.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
			return err == nil, err
		})
		// The bootstrap roles were reconciled, not duplicated or reset:
		// view keeps what aggregation gave it.
		if out := s.Kubectl("get", "clusterrole", "view", "-o", "jsonpath={.rules[*].resources}"); !strings.Contains(out, `"widgets"`) {
			t.Errorf("view after restart: %s", out)
		}
		eventually(t, waitShort, "system:discovery's subject to be reconciled back", func() (bool, error) {
			return s.Kubectl("get", "clusterrolebinding", "system:discovery", "-o", "jsonpath={.subjects[*].name}") == "system:authenticated", nil
		})
		if out := s.Kubectl("get", "clusterrole", "system:monitoring", "-o", "jsonpath={.rules[*].resources}"); strings.Contains(out, "nodes/metrics") {
			t.Errorf("system:monitoring (autoupdate=false) was reconciled: %s", out)
		}
	})
}

// The server's own start-up writes no audit event (kube-apiserver writes
// none either), and its loopback client names its version.
func TestStartupWritesNoAuditEvents(t *testing.T) {
	t.Parallel()
	s, log := rbacServer(t)
	// One request of ours, so the log has something after start-up.
	s.Kubectl("get", "ns", "default")
	var events []auditv1.Event
	eventually(t, waitShort, "the get of namespace default in the audit log", func() (bool, error) {
		var err error
		events, err = logReader(log)()
		for _, e := range events {
			if e.Verb == "get" && e.ObjectRef != nil && e.ObjectRef.Resource == "namespaces" && e.ObjectRef.Name == "default" {
				return true, nil
			}
		}
		return false, err
	})
	loopback := 0
	for _, e := range events {
		if e.RequestURI == "/readyz" && e.User.Username == "system:apiserver" {
			t.Errorf("the server's own /readyz poll is in the audit log: %s %d", e.AuditID, e.ResponseStatus.Code)
		}
		if e.User.Username == "system:apiserver" {
			loopback++
			if !strings.HasPrefix(e.UserAgent, "mini-apiserver/v1.") {
				t.Errorf("loopback user agent %q, want mini-apiserver/<kube version>", e.UserAgent)
			}
		}
	}
	if loopback == 0 {
		t.Errorf("no event of the server's loopback client (its bootstrap writes) among %d", len(events))
	}
}

// Two servers on one etcd: a role and binding created through one are
// enforced by the other (its informers watch the same keys).
func TestRBACTwoServersOneEtcd(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	a := startServer(t, "--etcd-servers="+etcd.URL(), "--authorization-mode=RBAC")
	b := startServer(t, "--etcd-servers="+etcd.URL(), "--authorization-mode=RBAC")
	ctx := context.Background()
	aliceOnB := userClient(t, b, "alice")
	_, err := aliceOnB.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	wantStatus(t, err, http.StatusForbidden, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`)
	a.Kubectl("-n", "default", "create", "role", "pod-reader", "--verb=list", "--resource=pods")
	a.Kubectl("-n", "default", "create", "rolebinding", "alice", "--role=pod-reader", "--user=alice")
	eventually(t, waitShort, "server b to enforce the role created through server a", func() (bool, error) {
		_, err := aliceOnB.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	a.Kubectl("-n", "default", "delete", "rolebinding", "alice")
	eventually(t, waitShort, "server b to forget the binding deleted through server a", func() (bool, error) {
		_, err := aliceOnB.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return apierrors.IsForbidden(err), nil
	})
}

// kubectl's other ways of writing RBAC objects: auth reconcile and
// server-side apply.
func TestRBACReconcileAndApply(t *testing.T) {
	t.Parallel()
	s, _ := rbacServer(t)
	s.Kubectl("create", "namespace", "team")
	manifest := `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: User, name: dan}]
`
	r := s.KubectlEnv(nil, manifest, "auth", "reconcile", "-f", "-")
	if r.Err != nil || !strings.Contains(r.Stdout, "role.rbac.authorization.k8s.io/deployer reconciled") {
		t.Fatalf("kubectl auth reconcile: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	r = s.KubectlEnv(nil, strings.Replace(manifest, "[get, create]", "[get, create, delete]", 1), "apply", "--server-side", "--force-conflicts", "-f", "-")
	if r.Err != nil {
		t.Fatalf("kubectl apply --server-side: %v\n%s", r.Err, r.Stderr)
	}
	if out := s.Kubectl("-n", "team", "get", "role", "deployer", "-o", "jsonpath={.rules[0].verbs}"); out != `["get","create","delete"]` {
		t.Errorf("verbs after apply: %s", out)
	}
	if out := s.Kubectl("-n", "team", "get", "rolebinding", "deployer", "-o", "jsonpath={.subjects[0].apiGroup}"); out != "rbac.authorization.k8s.io" {
		t.Errorf("subject apiGroup not defaulted: %q", out)
	}
	if out := s.Kubectl("auth", "can-i", "delete", "pods", "-n", "team", "--as", "dan"); out != "yes\n" {
		t.Errorf("can-i delete pods as dan: %q", out)
	}
}
