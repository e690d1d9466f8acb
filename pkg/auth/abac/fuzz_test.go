package abac

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Any line either parses into a policy or is refused with an error; a
// parsed policy never panics when asked.
func FuzzPolicyLine(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "alice", "namespace": "team-a", "resource": "pods", "readonly": true}}`,
		`{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"group": "*", "nonResourcePath": "/api*"}}`,
		`{"user": "legacy"}`, `{"user": "*", "readonly": true}`, `[]`, `{"apiVersion": 1}`, `{`,
	} {
		f.Add(seed)
	}
	attrs := []authorizer.Attributes{
		authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "alice", Groups: []string{"g"}}, Verb: "get", Namespace: "team-a", Resource: "pods", ResourceRequest: true},
		authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "bob"}, Verb: "create", Path: "/api/v1"},
		authorizer.AttributesRecord{Verb: "get", Path: "/healthz"},
	}
	f.Fuzz(func(t *testing.T, line string) {
		spec, err := parseLine([]byte(line))
		if err != nil {
			return
		}
		for _, a := range attrs {
			d, reason, err := PolicyList{spec}.Authorize(context.Background(), a)
			if err != nil || (d != authorizer.DecisionAllow && reason != "No policy matched.") {
				t.Fatalf("%v %q %v", d, reason, err)
			}
		}
	})
}
