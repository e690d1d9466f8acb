package e2e

import (
	"strings"
	"testing"
)

// TestServiceAccounts: core/v1 serviceaccounts as kubectl shows them, with
// kube's validation and its warning on the deprecated mountable-secrets
// annotation (the rest of the resource is compared with kube-apiserver's
// in TestGoldenAuditTrail).
func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.Kubectl("create", "serviceaccount", "builder")
	if out := s.Kubectl("get", "sa"); !regexpMatch(`^NAME\s+AGE\nbuilder\s+\S+\n$`, out) {
		t.Errorf("kubectl get sa:\n%s", out)
	}
	if stderr := s.KubectlFail("", "create", "sa", "Bad_Name"); !strings.Contains(stderr, `ServiceAccount "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain`) {
		t.Errorf("invalid name: %s", stderr)
	}
	r := s.KubectlEnv(nil, "", "annotate", "sa", "builder", "kubernetes.io/enforce-mountable-secrets=true")
	if r.Err != nil || !strings.Contains(r.Stderr, "Warning: metadata.annotations[kubernetes.io/enforce-mountable-secrets]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets") {
		t.Errorf("annotate: %v\n%s", r.Err, r.Stderr)
	}
}
