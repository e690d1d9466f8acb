package rbac

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
	"k8s.io/klog/v2"
)

// This file follows k8s.io/kubernetes
// plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go (the roles that
// make sense for what this server serves, their rules as kube's with its
// default feature gates) and the rbac/bootstrap-roles post-start hook of
// pkg/registry/rbac/rest/storage_rbac.go.

var (
	write     = []string{"create", "update", "patch", "delete", "deletecollection"}
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read      = []string{"get", "list", "watch"}
)

const (
	legacyGroup         = ""
	appsGroup           = "apps"
	authenticationGroup = "authentication.k8s.io"
	authorizationGroup  = "authorization.k8s.io"
	autoscalingGroup    = "autoscaling"
	batchGroup          = "batch"
	coordinationGroup   = "coordination.k8s.io"
	discoveryGroup      = "discovery.k8s.io"
	eventsGroup         = "events.k8s.io"
	extensionsGroup     = "extensions"
	networkingGroup     = "networking.k8s.io"
	policyGroup         = "policy"
	rbacGroup           = "rbac.authorization.k8s.io"
)

// ruleBuilder is kube's rbacv1helpers.PolicyRuleBuilder: fields sorted, as
// kube stores them.
type ruleBuilder struct{ rbacv1.PolicyRule }

func rule(verbs ...string) *ruleBuilder {
	return &ruleBuilder{rbacv1.PolicyRule{Verbs: slices.Clone(verbs)}}
}

func (b *ruleBuilder) groups(g ...string) *ruleBuilder {
	b.APIGroups = append(b.APIGroups, g...)
	return b
}
func (b *ruleBuilder) resources(r ...string) *ruleBuilder {
	b.Resources = append(b.Resources, r...)
	return b
}
func (b *ruleBuilder) urls(u ...string) *ruleBuilder {
	b.NonResourceURLs = append(b.NonResourceURLs, u...)
	return b
}

func (b *ruleBuilder) rule() rbacv1.PolicyRule {
	for _, s := range [][]string{b.Verbs, b.APIGroups, b.Resources, b.ResourceNames, b.NonResourceURLs} {
		slices.Sort(s)
	}
	return b.PolicyRule
}

func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(read...).groups(legacyGroup).resources("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps").rule(),
		rule(read...).groups(legacyGroup).resources("limitranges", "resourcequotas", "bindings",
			"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log").rule(),
		rule(read...).groups(legacyGroup).resources("namespaces").rule(),
		rule(read...).groups(legacyGroup, eventsGroup).resources("events").rule(),
		rule(read...).groups(discoveryGroup).resources("endpointslices").rule(),
		rule(read...).groups(appsGroup).resources("controllerrevisions",
			"statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status",
			"deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale").rule(),
		rule(read...).groups(autoscalingGroup).resources("horizontalpodautoscalers", "horizontalpodautoscalers/status").rule(),
		rule(read...).groups(batchGroup).resources("jobs", "cronjobs", "cronjobs/status", "jobs/status").rule(),
		rule(read...).groups(extensionsGroup).resources("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
			"networkpolicies").rule(),
		rule(read...).groups(policyGroup).resources("poddisruptionbudgets", "poddisruptionbudgets/status").rule(),
		rule(read...).groups(networkingGroup).resources("networkpolicies", "ingresses", "ingresses/status").rule(),
	}
}

func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(read...).groups(legacyGroup).resources("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy").rule(),
		rule("impersonate").groups(legacyGroup).resources("serviceaccounts").rule(),
		rule(write...).groups(legacyGroup).resources("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward").rule(),
		rule("create").groups(legacyGroup).resources("pods/eviction").rule(),
		rule(write...).groups(legacyGroup).resources("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets").rule(),
		rule("create").groups(legacyGroup).resources("serviceaccounts/token").rule(),
		rule(write...).groups(legacyGroup, eventsGroup).resources("events").rule(),
		rule(write...).groups(appsGroup).resources("statefulsets", "statefulsets/scale", "daemonsets",
			"deployments", "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale").rule(),
		rule(write...).groups(autoscalingGroup).resources("horizontalpodautoscalers").rule(),
		rule(write...).groups(batchGroup).resources("jobs", "cronjobs").rule(),
		rule(write...).groups(extensionsGroup).resources("daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses",
			"replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies").rule(),
		rule(write...).groups(policyGroup).resources("poddisruptionbudgets").rule(),
		rule(write...).groups(networkingGroup).resources("networkpolicies", "ingresses").rule(),
		rule(readWrite...).groups(coordinationGroup).resources("leases").rule(),
	}
}

func aggregateTo(role string) *rbacv1.AggregationRule {
	return &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-" + role: "true"}}}}
}

func aggregatedBy(role string) map[string]string {
	return map[string]string{"rbac.authorization.k8s.io/aggregate-to-" + role: "true"}
}

// ClusterRoles are the bootstrap ClusterRoles this server serves.
func ClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Rules: []rbacv1.PolicyRule{
			rule("*").groups("*").resources("*").rule(), rule("*").urls("*").rule()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:discovery"}, Rules: []rbacv1.PolicyRule{
			rule("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*").rule()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:monitoring"}, Rules: []rbacv1.PolicyRule{
			rule("get").urls("/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz", "/livez/*", "/readyz/*", "/healthz/*").rule(),
			rule("get").groups(legacyGroup).resources("nodes/metrics").rule()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:basic-user"}, Rules: []rbacv1.PolicyRule{
			rule("create").groups(authorizationGroup).resources("selfsubjectaccessreviews", "selfsubjectrulesreviews").rule(),
			rule("create").groups(authenticationGroup).resources("selfsubjectreviews").rule()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer"}, Rules: []rbacv1.PolicyRule{
			rule("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/").rule()}},
		// Slash-ended too, as kube's, for clients generated from old OpenAPI documents.
		{ObjectMeta: metav1.ObjectMeta{Name: "system:service-account-issuer-discovery"}, Rules: []rbacv1.PolicyRule{
			rule("get").urls("/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/").rule()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "admin"}, AggregationRule: aggregateTo("admin")},
		{ObjectMeta: metav1.ObjectMeta{Name: "edit", Labels: aggregatedBy("admin")}, AggregationRule: aggregateTo("edit")},
		{ObjectMeta: metav1.ObjectMeta{Name: "view", Labels: aggregatedBy("edit")}, AggregationRule: aggregateTo("view")},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-admin", Labels: aggregatedBy("admin")}, Rules: []rbacv1.PolicyRule{
			rule("create").groups(authorizationGroup).resources("localsubjectaccessreviews").rule(),
			rule(readWrite...).groups(rbacGroup).resources("roles", "rolebindings").rule()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-edit", Labels: aggregatedBy("edit")}, Rules: editRules()},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-view", Labels: aggregatedBy("view")}, Rules: viewRules()},
	}
	for i := range roles {
		addDefaultMetadata(&roles[i].ObjectMeta)
	}
	return roles
}

func clusterBinding(role string, groups ...string) rbacv1.ClusterRoleBinding {
	b := rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
	for _, g := range groups {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	addDefaultMetadata(&b.ObjectMeta)
	return b
}

// ClusterRoleBindings are the bootstrap ClusterRoleBindings.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return []rbacv1.ClusterRoleBinding{
		clusterBinding("cluster-admin", user.SystemPrivilegedGroup),
		clusterBinding("system:monitoring", user.MonitoringGroup),
		clusterBinding("system:discovery", user.AllAuthenticated),
		clusterBinding("system:basic-user", user.AllAuthenticated),
		clusterBinding("system:public-info-viewer", user.AllAuthenticated, user.AllUnauthenticated),
		clusterBinding("system:service-account-issuer-discovery", serviceaccount.AllServiceAccountsGroup),
	}
}

// addDefaultMetadata marks a bootstrap object as kube does: reconciled on
// every start unless a user sets rbac.authorization.kubernetes.io/autoupdate
// to "false".
func addDefaultMetadata(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels["kubernetes.io/bootstrapping"] = "rbac-defaults"
	m.Annotations = map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}
}

// Reconcile creates the bootstrap roles and bindings or brings them up to
// date, with kube's reconciliation (k8s.io/component-helpers): missing
// rules and subjects are added, a user's additions kept, and an object
// annotated autoupdate=false left alone.
//
// What exists is read from the informers' caches, not asked of the server
// object by object as kube-apiserver's hook does: the reconciliation of an
// unchanged policy makes no request at all, and start-up waits only for
// the caches it already needs. A cache that is behind costs nothing but a
// retry: a create of what exists fails with AlreadyExists, an update of an
// old version with a Conflict.
func Reconcile(client rbacclient.RbacV1Interface, roles rbaclisters.ClusterRoleLister, bindings rbaclisters.ClusterRoleBindingLister) error {
	cachedRoleSet := cachedClusterRoles{ClusterRoleModifier: reconciliation.ClusterRoleModifier{Client: client.ClusterRoles()}, lister: roles}
	cachedBindingSet := cachedClusterRoleBindings{ClusterRoleBindingClientAdapter: reconciliation.ClusterRoleBindingClientAdapter{Client: client.ClusterRoleBindings()},
		lister: bindings}
	// Each object on its own: on a new data directory the creates are
	// written together (etcd commits them in a few fsyncs, not one each).
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(what string, reconcile func() error) {
		wg.Go(func() {
			if err := reconcile(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				mu.Unlock()
			}
		})
	}
	for _, role := range ClusterRoles() {
		run("clusterrole "+role.Name, func() error {
			opts := reconciliation.ReconcileRoleOptions{
				Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: &role},
				Client:  cachedRoleSet,
				Confirm: true,
			}
			result, err := opts.Run()
			if err == nil {
				logResult("clusterrole", role.Name, result.Operation, result.Protected, len(result.MissingRules) > 0)
			}
			return err
		})
	}
	for _, binding := range ClusterRoleBindings() {
		run("clusterrolebinding "+binding.Name, func() error {
			opts := reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &binding},
				Client:      cachedBindingSet,
				Confirm:     true,
			}
			result, err := opts.Run()
			if err == nil {
				logResult("clusterrolebinding", binding.Name, result.Operation, result.Protected, len(result.MissingSubjects) > 0)
			}
			return err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cachedClusterRoles answers the reconciliation's Get from the cache (a
// copy: the reconciliation changes what it gets); creates and updates go to
// the server (a conflict with a change since fails, and the caller retries).
type cachedClusterRoles struct {
	reconciliation.ClusterRoleModifier
	lister rbaclisters.ClusterRoleLister
}

func (l cachedClusterRoles) Get(_, name string) (reconciliation.RuleOwner, error) {
	r, err := l.lister.Get(name)
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: r.DeepCopy()}, nil
}

// cachedClusterRoleBindings is cachedClusterRoles for bindings.
type cachedClusterRoleBindings struct {
	reconciliation.ClusterRoleBindingClientAdapter
	lister rbaclisters.ClusterRoleBindingLister
}

func (l cachedClusterRoleBindings) Get(_, name string) (reconciliation.RoleBinding, error) {
	b, err := l.lister.Get(name)
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b.DeepCopy()}, nil
}

func logResult(kind, name string, op reconciliation.ReconcileOperation, protected, missing bool) {
	switch {
	case protected && missing:
		klog.InfoS("Bootstrap RBAC object is out of date and annotated autoupdate=false: left as it is", "kind", kind, "name", name)
	case op == reconciliation.ReconcileCreate:
		klog.V(2).InfoS("Created bootstrap RBAC object", "kind", kind, "name", name)
	case op == reconciliation.ReconcileUpdate:
		klog.InfoS("Updated bootstrap RBAC object", "kind", kind, "name", name)
	}
}
