package abac

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func load(t *testing.T, content string) (PolicyList, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "abac.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return NewFromFile(p)
}

const policies = `# alice reads pods in team-a
{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "alice", "namespace": "team-a", "resource": "pods", "apiGroup": "", "readonly": true}}

{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"group": "ops", "namespace": "*", "resource": "*", "apiGroup": "*"}}
{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "*", "nonResourcePath": "/metrics*", "readonly": true}}
{"user": "legacy"}
`

func TestAuthorize(t *testing.T) {
	pl, err := load(t, policies)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl) != 4 {
		t.Fatalf("%d policies", len(pl))
	}
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}}
	op := &user.DefaultInfo{Name: "olga", Groups: []string{"ops", user.AllAuthenticated}}
	legacy := &user.DefaultInfo{Name: "legacy", Groups: []string{user.AllAuthenticated}}
	res := func(u user.Info, verb, ns, resource string) authorizer.Attributes {
		return authorizer.AttributesRecord{User: u, Verb: verb, Namespace: ns, Resource: resource, ResourceRequest: true}
	}
	path := func(u user.Info, verb, p string) authorizer.Attributes {
		return authorizer.AttributesRecord{User: u, Verb: verb, Path: p}
	}
	for name, tc := range map[string]struct {
		attrs authorizer.Attributes
		allow bool
	}{
		"alice lists pods in team-a":        {res(alice, "list", "team-a", "pods"), true},
		"alice watches pods in team-a":      {res(alice, "watch", "team-a", "pods"), true},
		"alice creates pods in team-a":      {res(alice, "create", "team-a", "pods"), false},
		"alice lists pods in team-b":        {res(alice, "list", "team-b", "pods"), false},
		"alice lists namespaces":            {res(alice, "list", "", "namespaces"), false},
		"ops member deletes anywhere":       {res(op, "delete", "x", "pods"), true},
		"anyone reads /metrics/slis":        {path(alice, "get", "/metrics/slis"), true},
		"nobody writes /metrics":            {path(alice, "post", "/metrics"), false},
		"resource policy, non-resource req": {path(op, "get", "/healthz"), false},
		"v0 user gets everything":           {res(legacy, "create", "any", "pods"), true},
		"v0 user non-resource":              {path(legacy, "get", "/anything"), true},
		"anonymous":                         {res(nil, "get", "team-a", "pods"), false},
	} {
		d, reason, err := pl.Authorize(context.Background(), tc.attrs)
		if err != nil {
			t.Fatal(err)
		}
		if (d == authorizer.DecisionAllow) != tc.allow {
			t.Errorf("%s: decision %v (%q), want allow=%t", name, d, reason, tc.allow)
		}
		if d != authorizer.DecisionAllow && reason != "No policy matched." {
			t.Errorf("%s: reason %q", name, reason)
		}
	}
}

func TestLoadErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"bad JSON":      {"{\"user\":\"a\"}\n{\"user\": \n", "line 2: {\"user\":: unexpected end of JSON input"},
		"unknown field": {`{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"usr": "a"}}`, `line 1:`},
		"wrong version": {`{"apiVersion": "abac.authorization.kubernetes.io/v2", "kind": "Policy", "spec": {}}`, `line 1:`},
		"not an object": {"# fine\n\n[1,2]\n", "line 3: [1,2]:"},
	} {
		_, err := load(t, tc.content)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "error reading policy file ") {
			t.Errorf("%s: %v, want it to contain %q", name, err, tc.want)
		}
	}
	if _, err := NewFromFile("/nonexistent/abac"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}
