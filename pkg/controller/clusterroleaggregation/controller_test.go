package clusterroleaggregation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Settled holds when every aggregated role has the union of the rules of
// the roles it selects, in the controller's order, and only then.
func TestSettled(t *testing.T) {
	get := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	list := rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	label := map[string]string{"aggregate-to-view": "true"}
	roles := func(viewRules ...rbacv1.PolicyRule) []rbacv1.ClusterRole {
		return []rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: "view"}, Rules: viewRules,
				AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: label}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: label}, Rules: []rbacv1.PolicyRule{get}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: label}, Rules: []rbacv1.PolicyRule{get, list}},
			{ObjectMeta: metav1.ObjectMeta{Name: "unselected"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}}}},
		}
	}
	for _, tc := range []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  bool
	}{
		{"not aggregated yet", nil, false},
		{"one rule missing", []rbacv1.PolicyRule{get}, false},
		{"aggregated", []rbacv1.PolicyRule{get, list}, true},
		{"out of order", []rbacv1.PolicyRule{list, get}, false},
	} {
		got, err := Settled(roles(tc.rules...))
		if err != nil || got != tc.want {
			t.Errorf("%s: Settled = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
