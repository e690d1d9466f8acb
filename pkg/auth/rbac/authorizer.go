// Package rbac is Kubernetes' RBAC authorizer, written in the image of
// k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac (which this project
// does not import): rules resolved from informer caches of roles and
// bindings, kube's reasons word for word, and the escalation checks the
// RBAC registry applies to roles and bindings.
package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacinformers "k8s.io/client-go/informers/rbac/v1"
)

// Authorizer is kube's RBACAuthorizer.
type Authorizer struct {
	Resolver *Resolver
}

// New reads roles and bindings from the informers' caches.
func New(informers rbacinformers.Interface) *Authorizer {
	return &Authorizer{Resolver: Listers{
		Roles:               informers.Roles().Lister(),
		RoleBindings:        informers.RoleBindings().Lister(),
		ClusterRoles:        informers.ClusterRoles().Lister(),
		ClusterRoleBindings: informers.ClusterRoleBindings().Lister(),
	}.Resolver()}
}

// Authorize allows a request some rule that applies to its user grants,
// with the reason "RBAC: allowed by <binding> of <role> to <subject>"; it
// has no opinion otherwise, and no reason unless rules could not be read.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	var reason string
	var errs []error
	allowed := false
	a.Resolver.VisitRulesFor(ctx, attrs.GetUser(), attrs.GetNamespace(), func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if rule != nil && RuleAllows(attrs, rule) {
			allowed, reason = true, fmt.Sprintf("RBAC: allowed by %s", source.String())
			return false
		}
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	if allowed {
		return authorizer.DecisionAllow, reason, nil
	}
	if len(errs) > 0 {
		reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))
	}
	return authorizer.DecisionNoOpinion, reason, nil
}

// ConditionsAwareAuthorize is Authorize: RBAC has no conditions.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions fails closed, as kube's RBAC authorizer does.
func (*Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// RulesFor lists what u may do in namespace, for SelfSubjectRulesReview.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	var resourceRules []authorizer.ResourceRuleInfo
	var nonResourceRules []authorizer.NonResourceRuleInfo
	rules, err := a.Resolver.RulesFor(ctx, u, namespace)
	for _, r := range rules {
		if len(r.Resources) > 0 {
			resourceRules = append(resourceRules, &authorizer.DefaultResourceRuleInfo{
				Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
		if len(r.NonResourceURLs) > 0 {
			nonResourceRules = append(nonResourceRules, &authorizer.DefaultNonResourceRuleInfo{
				Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
		}
	}
	return resourceRules, nonResourceRules, false, err
}

var (
	_ authorizer.Authorizer   = &Authorizer{}
	_ authorizer.RuleResolver = &Authorizer{}
)
