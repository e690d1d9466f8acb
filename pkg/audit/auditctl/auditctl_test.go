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
		{[]string{"lint", "--policy", invalid}, ExitError, ""},
		{[]string{"lint"}, ExitError, "auditctl: --policy is required\n"},
		{[]string{"lint", "--policy", "/nonexistent.yaml"}, ExitError, "auditctl: bad input: open /nonexistent.yaml: no such file or directory\n"},
		{[]string{"lint", "--policy", review, "--mode", "sometimes"}, ExitError, "auditctl: lint: --mode \"sometimes\": want batch, blocking or blocking-strict\n"},
		{[]string{"explain", "--policy", review, "--user", "a", "--verb", "get", "--path", "/x"}, ExitOK, ""},
		{[]string{"explain", "--policy", invalid, "--user", "a", "--verb", "get", "--path", "/x"}, ExitError, ""},
		{[]string{"explain", "--policy", binary, "--user", "a", "--verb", "get", "--path", "/x"}, ExitError, "is not a text file"},
		{[]string{"explain", "--policy", review, "--user", "a", "--verb", "get"}, ExitError, "auditctl: explain: give exactly one of --resource and --path\n"},
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
