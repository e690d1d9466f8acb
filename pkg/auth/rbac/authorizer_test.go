package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// listers are client-go's listers over indexers holding objs, as the
// informers fill them.
func listers(t *testing.T, objs ...interface{}) Listers {
	t.Helper()
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	roles, rbs, crs, crbs := idx(), idx(), idx(), idx()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *rbacv1.Role:
			err = roles.Add(o)
		case *rbacv1.RoleBinding:
			err = rbs.Add(o)
		case *rbacv1.ClusterRole:
			err = crs.Add(o)
		case *rbacv1.ClusterRoleBinding:
			err = crbs.Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return Listers{Roles: rbaclisters.NewRoleLister(roles), RoleBindings: rbaclisters.NewRoleBindingLister(rbs),
		ClusterRoles: rbaclisters.NewClusterRoleLister(crs), ClusterRoleBindings: rbaclisters.NewClusterRoleBindingLister(crbs)}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func roleBinding(ns, name, kind, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName}, Subjects: subjects}
}

func clusterRoleBinding(name, roleName string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}, Subjects: subjects}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func resourceRequest(u user.Info, verb, group, resource, subresource, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: subresource,
		Namespace: ns, Name: name, ResourceRequest: true}
}

func TestAuthorizerReasons(t *testing.T) {
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"devs", user.AllAuthenticated}}
	bob := &user.DefaultInfo{Name: "bob"}
	sa := &user.DefaultInfo{Name: "system:serviceaccount:team:builder"}
	a := &Authorizer{Resolver: listers(t,
		role("team", "pod-reader", rule("get", "list").groups("").resources("pods").rule()),
		roleBinding("team", "team", "Role", "pod-reader", userSubject("alice")),
		clusterRole("cluster-admin", rule("*").groups("*").resources("*").rule(), rule("*").urls("*").rule()),
		clusterRoleBinding("cluster-admin", "cluster-admin", groupSubject(user.SystemPrivilegedGroup)),
		clusterRole("logs", rule("get").groups("").resources("*/log").rule(), rule("get").urls("/logs/*").rule()),
		clusterRoleBinding("devs-logs", "logs", groupSubject("devs")),
		clusterRole("named", rule("get").groups("").resources("pods/status").names("web").rule()),
		roleBinding("team", "builder", "ClusterRole", "named", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "builder"}),
		roleBinding("team", "dangling", "Role", "missing", userSubject("bob")),
	).Resolver()}
	admin := &user.DefaultInfo{Name: "root", Groups: []string{user.SystemPrivilegedGroup}}
	for _, tc := range []struct {
		name   string
		attrs  authorizer.Attributes
		want   authorizer.Decision
		reason string
	}{
		{"role binding", resourceRequest(alice, "list", "", "pods", "", "team", ""), authorizer.DecisionAllow,
			`RBAC: allowed by RoleBinding "team/team" of Role "pod-reader" to User "alice"`},
		{"verb not granted", resourceRequest(alice, "delete", "", "pods", "", "team", "p"), authorizer.DecisionNoOpinion, ""},
		{"other namespace", resourceRequest(alice, "list", "", "pods", "", "other", ""), authorizer.DecisionNoOpinion, ""},
		{"cluster role binding to a group", resourceRequest(admin, "delete", "apps", "deployments", "", "x", "d"), authorizer.DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"`},
		{"*/subresource", resourceRequest(alice, "get", "", "pods", "log", "x", "p"), authorizer.DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "devs-logs" of ClusterRole "logs" to Group "devs"`},
		{"*/subresource is not the resource", resourceRequest(alice, "get", "", "pods", "", "x", "p"), authorizer.DecisionNoOpinion, ""},
		{"non-resource URL with * suffix", authorizer.AttributesRecord{User: alice, Verb: "get", Path: "/logs/kube.log"}, authorizer.DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "devs-logs" of ClusterRole "logs" to Group "devs"`},
		{"service account by binding namespace, resource name", resourceRequest(sa, "get", "", "pods", "status", "team", "web"), authorizer.DecisionAllow,
			`RBAC: allowed by RoleBinding "builder/team" of ClusterRole "named" to ServiceAccount "builder/team"`},
		{"other resource name", resourceRequest(sa, "get", "", "pods", "status", "team", "db"), authorizer.DecisionNoOpinion, ""},
		{"a binding to a missing role is a reason", resourceRequest(bob, "get", "", "pods", "", "team", "p"), authorizer.DecisionNoOpinion,
			`RBAC: role.rbac.authorization.k8s.io "missing" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, err := a.Authorize(context.Background(), tc.attrs)
			if got != tc.want || reason != tc.reason || err != nil {
				t.Errorf("got %v %q %v, want %v %q", got, reason, err, tc.want, tc.reason)
			}
		})
	}
}

func TestConfirmNoEscalation(t *testing.T) {
	r := listers(t,
		role("team", "pod-reader", rule("get", "list").groups("").resources("pods").rule()),
		roleBinding("team", "team", "Role", "pod-reader", userSubject("alice")),
	).Resolver()
	ctx := genericapirequest.WithNamespace(genericapirequest.WithUser(context.Background(),
		&user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}), "team")
	if err := r.ConfirmNoEscalation(ctx, []rbacv1.PolicyRule{rule("get").groups("").resources("pods").rule()}); err != nil {
		t.Errorf("a subset of what alice holds: %v", err)
	}
	err := r.ConfirmNoEscalation(ctx, []rbacv1.PolicyRule{
		rule("get", "delete").groups("").resources("pods").rule(), rule("create").groups("").resources("pods").rule()})
	want := `user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}`
	if err == nil || err.Error() != want {
		t.Errorf("escalation: %v, want %q", err, want)
	}
	if !strings.Contains(CompactString(rule("get").urls("/healthz").rule()), `NonResourceURLs:["/healthz"]`) {
		t.Errorf("CompactString of a URL rule")
	}
}

func (b *ruleBuilder) names(n ...string) *ruleBuilder {
	b.ResourceNames = append(b.ResourceNames, n...)
	return b
}
