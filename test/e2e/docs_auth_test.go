package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docs/auth.md's walkthrough: the example token and ABAC files start a
// server, hack/user-kubeconfig.sh writes a user's kubeconfig, and kubectl
// acts as that user.
func TestDocsAuthWalkthrough(t *testing.T) {
	t.Parallel()
	examples, _ := filepath.Abs(filepath.Join("..", "..", "docs", "examples"))
	script, _ := filepath.Abs(filepath.Join("..", "..", "hack", "user-kubeconfig.sh"))
	s := startServer(t, "--token-auth-file="+filepath.Join(examples, "tokens.csv"),
		"--authorization-mode=ABAC", "--authorization-policy-file="+filepath.Join(examples, "abac.jsonl"))
	s.Kubectl("create", "namespace", "team-a")
	s.Kubectl("create", "namespace", "team-b")

	cmd := exec.Command(script, s.Kubeconfig(), "alice", "--token", "alice-token")
	cmd.Env = append(os.Environ(), "KUBECTL="+kubectlBin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("user-kubeconfig.sh: %v", err)
	}
	alice := writeFile(t, "alice.kubeconfig", string(out))
	if r := kubectlAs(t, alice, "auth", "whoami"); !regexpMatch(`(?m)^Username\s+alice$`, r.Stdout) {
		t.Errorf("whoami: %v %s %s", r.Err, r.Stdout, r.Stderr)
	}
	if r := kubectlAs(t, alice, "get", "pods", "-n", "team-a"); r.Err != nil || !strings.Contains(r.Stderr, "No resources found in team-a namespace.") {
		t.Errorf("alice reads team-a: %v %s", r.Err, r.Stderr)
	}
	if r := kubectlAs(t, alice, "run", "x", "--image=nginx", "-n", "team-b"); r.Err == nil {
		t.Errorf("alice created a pod in team-b")
	}
	if r := kubectlAs(t, alice, "run", "x", "--image=nginx", "-n", "team-a"); r.Err == nil {
		t.Errorf("alice created a pod in team-a (read-only)")
	}
	bobCfg, err := exec.Command(script, s.Kubeconfig(), "bob", "--token", "bob-token").Output()
	if err != nil {
		t.Fatal(err)
	}
	bob := writeFile(t, "bob.kubeconfig", string(bobCfg))
	if r := kubectlAs(t, bob, "run", "web", "--image=nginx", "-n", "team-b"); r.Err != nil || r.Stdout != "pod/web created\n" {
		t.Errorf("bob (devs) creates in team-b: %v %s %s", r.Err, r.Stdout, r.Stderr)
	}
}
