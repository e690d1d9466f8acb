package rbac

import (
	"fmt"
	"reflect"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// This file follows k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go,
// plugin/pkg/auth/authorizer/rbac/rbac.go (RuleAllows) and
// pkg/registry/rbac/validation/policy_compact.go.

// RuleAllows says whether rule grants the request, as kube's RBAC does:
// resource/subresource and "*/subresource", resource names, non-resource
// URLs with a "*" suffix.
func RuleAllows(a authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if a.IsResourceRequest() {
		combined := a.GetResource()
		if a.GetSubresource() != "" {
			combined = a.GetResource() + "/" + a.GetSubresource()
		}
		return verbMatches(rule, a.GetVerb()) &&
			apiGroupMatches(rule, a.GetAPIGroup()) &&
			resourceMatches(rule, combined, a.GetSubresource()) &&
			resourceNameMatches(rule, a.GetName())
	}
	return verbMatches(rule, a.GetVerb()) && nonResourceURLMatches(rule, a.GetPath())
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

func resourceMatches(rule *rbacv1.PolicyRule, combined, subresource string) bool {
	for _, r := range rule.Resources {
		if r == rbacv1.ResourceAll || r == combined {
			return true
		}
		if subresource != "" && len(r) == len(subresource)+2 && strings.HasPrefix(r, "*/") && strings.HasSuffix(r, subresource) {
			return true
		}
	}
	return false
}

func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	for _, n := range rule.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}

func nonResourceURLMatches(rule *rbacv1.PolicyRule, url string) bool {
	for _, u := range rule.NonResourceURLs {
		if u == rbacv1.NonResourceAll || u == url {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(url, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}

// CompactString is a rule in the short form kube's escalation errors use.
func CompactString(r rbacv1.PolicyRule) string {
	var parts []string
	var args []any
	for _, f := range []struct {
		name   string
		values []string
	}{{"APIGroups", r.APIGroups}, {"Resources", r.Resources}, {"NonResourceURLs", r.NonResourceURLs}, {"ResourceNames", r.ResourceNames}, {"Verbs", r.Verbs}} {
		if len(f.values) > 0 {
			parts = append(parts, f.name+":%q")
			args = append(args, f.values)
		}
	}
	return fmt.Sprintf("{"+strings.Join(parts, ", ")+"}", args...)
}

// simpleResource is what a rule of one group and one resource (and at most
// one name) is about: such rules are merged by CompactRules.
type simpleResource struct {
	Group, Resource   string
	ResourceNameExist bool
	ResourceName      string
}

// CompactRules merges the verbs of rules about the same single resource.
func CompactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	compacted := make([]rbacv1.PolicyRule, 0, len(rules))
	simple := map[simpleResource]*rbacv1.PolicyRule{}
	var order []simpleResource
	for _, rule := range rules {
		res, ok := isSimpleResourceRule(&rule)
		if !ok {
			compacted = append(compacted, rule)
			continue
		}
		if existing, ok := simple[res]; ok {
			existing.Verbs = append(existing.Verbs, rule.Verbs...)
			continue
		}
		simple[res] = rule.DeepCopy()
		order = append(order, res)
	}
	for _, res := range order {
		compacted = append(compacted, *simple[res])
	}
	return compacted
}

func isSimpleResourceRule(rule *rbacv1.PolicyRule) (simpleResource, bool) {
	if len(rule.ResourceNames) > 1 || len(rule.NonResourceURLs) > 0 || len(rule.APIGroups) != 1 || len(rule.Resources) != 1 {
		return simpleResource{}, false
	}
	only := &rbacv1.PolicyRule{APIGroups: rule.APIGroups, Resources: rule.Resources, Verbs: rule.Verbs, ResourceNames: rule.ResourceNames}
	if !reflect.DeepEqual(only, rule) {
		return simpleResource{}, false
	}
	res := simpleResource{Group: rule.APIGroups[0], Resource: rule.Resources[0]}
	if len(rule.ResourceNames) == 1 {
		res.ResourceNameExist, res.ResourceName = true, rule.ResourceNames[0]
	}
	return res, true
}
