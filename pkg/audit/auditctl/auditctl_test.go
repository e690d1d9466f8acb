package auditctl

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExitCodesAndBadInput(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "binary")
	os.WriteFile(binary, []byte{0, 1, 2, 3}, 0o600)
	review := "../policytool/testdata/review.yaml"
	invalid := "../policytool/testdata/invalid.yaml"
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"lint", "--policy", review}, ExitFindings, ""},
		{[]string{"lint", review}, ExitFindings, ""},
		{[]string{"lint", invalid}, ExitError, ""},
		{[]string{"lint", "/nonexistent.yaml"}, ExitError, "auditctl: bad input: open /nonexistent.yaml: no such file or directory\n"},
		{[]string{"lint", "--policy", invalid}, ExitError, ""},
		{[]string{"lint"}, ExitError, "auditctl: --policy is required\n"},
		{[]string{"lint", "--policy", "/nonexistent.yaml"}, ExitError, "auditctl: bad input: open /nonexistent.yaml: no such file or directory\n"},
		{[]string{"lint", "--policy", review, "--mode", "sometimes"}, ExitError, "auditctl: lint: --mode \"sometimes\": want batch, blocking or blocking-strict\n"},
		{[]string{"explain", "--policy", review, "--user", "a", "--verb", "get", "--path", "/x"}, ExitOK, ""},
		{[]string{"explain", "--policy", invalid, "--user", "a", "--verb", "get", "--path", "/x"}, ExitError, ""},
		{[]string{"explain", "--policy", binary, "--user", "a", "--verb", "get", "--path", "/x"}, ExitError, "is not a text file"},
		{[]string{"explain", "--policy", review, "--user", "a", "--verb", "get"}, ExitError, "auditctl: explain: give exactly one of --resource and --path\n"},
		{[]string{"explain"}, ExitError, "auditctl: explain: give --policy, --sink or both\n"},
		{[]string{"explain", "--sink", "/nonexistent.yaml"}, ExitError, "auditctl: bad input: open /nonexistent.yaml: no such file or directory\n"},
		{[]string{"explain", "--sink", "../policytool/testdata/sink-invalid.yaml"}, ExitError, `auditctl: ../policytool/testdata/sink-invalid.yaml: AuditSink "broken" is invalid: ` +
			`spec.policy.level: Unsupported value: "Everything": supported values: "Metadata", "None", "Request", "RequestResponse"; ` +
			`spec.webhook.throttle.qps: Invalid value: 0: qps must be a positive number; ` +
			`spec.webhook.clientConfig: Required value: exactly one of url or service is required` + "\n"},
		{[]string{"explain", "--sink", review}, ExitError, `auditctl: ../policytool/testdata/review.yaml: apiVersion "audit.k8s.io/v1", kind "Policy": want auditregistration.k8s.io/v1alpha1 AuditSink` + "\n"},
		{[]string{"explain", "--sink", "../policytool/testdata/sink.yaml", "--policy", review}, ExitError, "auditctl: explain: --user and --verb are required\n"},
		{[]string{"console"}, ExitError, "auditctl: console: --log is required\n"},
		{[]string{"console", "--log", "/nonexistent.log"}, ExitError,
			"auditctl: console: stat /nonexistent.log: no such file or directory (the server writes it with --audit-log-path)\n"},
		{[]string{"console", "--log", binary, "--policy", invalid}, ExitError, "invalid.yaml"},
		{[]string{"console", "--log", binary, "--address", "127.0.0.1:99999"}, ExitError, "auditctl: console: listen tcp: address 99999: invalid port\n"},
		{[]string{"explain", "--bogus"}, ExitError, "auditctl: unknown flag: --bogus\n"},
		{[]string{"view", "/nonexistent.log"}, ExitError, "auditctl: view: open /nonexistent.log: no such file or directory\n"},
		{[]string{"view", binary}, ExitError, "is not a text audit log (binary content)\n"},
		{[]string{"view", "--level", "Loud", "-"}, ExitError, "auditctl: view: unknown level \"Loud\""},
		{[]string{"view", "--stage", "Later", "-"}, ExitError, "auditctl: view: unknown stage \"Later\""},
		{[]string{"verify"}, ExitError, "requires at least 1 arg"},
		{[]string{"verify", binary}, ExitError, "binary content"},
		{[]string{"nosuch"}, ExitError, `unknown command "nosuch"`},
	} {
		code, _, stderr := run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit %d stderr %q, want %d and %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: error is not one line: %q", tc.args, stderr)
		}
	}
}

// explain --sink says what a dynamic sink gets: its level and stages for
// every request, defaulted as the server would, managedFields as the static
// policy decides.
func TestExplainSink(t *testing.T) {
	sink := "../policytool/testdata/sink.yaml"
	code, out, stderr := run("explain", "--sink", sink)
	want := `sink:           bodies (../policytool/testdata/sink.yaml)
level:          RequestResponse, for every request
stages:         ResponseComplete
managedFields:  kept (unless the server's --audit-policy-file omits them for the request; give --policy to see)
throttle:       10 batches a second, burst 15
target:         https://127.0.0.1:9443/audit
`
	if code != ExitOK || out != want {
		t.Errorf("exit %d %s\n%s\nwant\n%s", code, stderr, out, want)
	}
	policy := filepath.Join(t.TempDir(), "omit.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\nrules:\n- level: Metadata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run("explain", "--policy", policy, "--sink", sink, "--user", "alice", "--verb", "create", "--resource", "pods", "--namespace", "default")
	if code != ExitOK || !strings.Contains(out, "level:          Metadata\n") ||
		!strings.Contains(out, "\n\nsink:           bodies") || !strings.Contains(out, "managedFields:  omitted (as --policy says for this request)\n") {
		t.Errorf("exit %d %s\n%s", code, stderr, out)
	}
}

// lint takes the file as an argument, as every linter does, and says the
// same as with --policy.
func TestLintFileArgument(t *testing.T) {
	review := "../policytool/testdata/review.yaml"
	code, out, _ := run("lint", review)
	flagCode, flagOut, _ := run("lint", "--policy", review)
	if code != flagCode || out != flagOut || !strings.HasPrefix(out, review+":") {
		t.Errorf("lint FILE: exit %d\n%s\nlint --policy FILE: exit %d\n%s", code, out, flagCode, flagOut)
	}
}
