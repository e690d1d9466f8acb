package policytool

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
)

func TestExplain(t *testing.T) {
	p, err := Load("testdata/review.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		req   Request
		rule  int
		level auditinternal.Level
		omit  string
	}{
		"alice creates pods":         {Request{User: "alice", Verb: "create", Resource: "pods", Namespace: "default"}, 1, auditinternal.LevelRequestResponse, "ResponseStarted"},
		"alice creates pod x":        {Request{User: "alice", Verb: "create", Resource: "pods", Namespace: "default", Name: "x"}, 1, auditinternal.LevelRequestResponse, "ResponseStarted"},
		"auditor gets pods":          {Request{User: "bob", Groups: []string{"auditors"}, Verb: "get", Resource: "pods", Namespace: "d"}, 2, auditinternal.LevelRequest, "ResponseStarted"},
		"status subresource":         {Request{User: "bob", Verb: "update", Resource: "pods", Subresource: "status", Namespace: "d"}, 3, auditinternal.LevelMetadata, "ResponseStarted"},
		"health prefix":              {Request{User: "bob", Verb: "get", Path: "/healthz/ping"}, 6, auditinternal.LevelNone, "ResponseStarted"},
		"version exact":              {Request{User: "bob", Verb: "get", Path: "/version"}, 6, auditinternal.LevelNone, "ResponseStarted"},
		"version prefix is no match": {Request{User: "bob", Verb: "get", Path: "/versions"}, 8, auditinternal.LevelMetadata, "RequestReceived, ResponseStarted"},
		"the apiserver itself":       {Request{User: "system:apiserver", Verb: "list", Resource: "pods"}, 0, auditinternal.LevelNone, "ResponseStarted"},
		"catch-all":                  {Request{User: "bob", Verb: "watch", Resource: "namespaces"}, 8, auditinternal.LevelMetadata, "RequestReceived, ResponseStarted"},
	} {
		e := p.Explain(tc.req)
		var omit []string
		for _, s := range e.OmitStages {
			omit = append(omit, string(s))
		}
		if e.Rule != tc.rule || e.Level != tc.level || strings.Join(omit, ", ") != tc.omit {
			t.Errorf("%s: rules[%d] %s omit %v, want rules[%d] %s omit %s", name, e.Rule, e.Level, omit, tc.rule, tc.level, tc.omit)
		}
	}
	if p.RuleLines[1] != 7 || !strings.HasPrefix(p.RuleTexts[1], "- level: RequestResponse\n  users: [\"alice\"]") {
		t.Errorf("rule 1 at line %d: %q", p.RuleLines[1], p.RuleTexts[1])
	}
	if !strings.HasSuffix(p.RuleTexts[8], `omitStages: ["RequestReceived"]`) {
		t.Errorf("last rule text %q", p.RuleTexts[8])
	}
}

func TestExplainNoMatch(t *testing.T) {
	p, err := Load("testdata/noisy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Explain(Request{User: "bob", Verb: "get", Resource: "pods"}); e.Rule != -1 || e.Level != auditinternal.LevelNone {
		t.Errorf("%+v", e)
	}
}

func messages(fs []Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, strings.Join([]string{string(f.Severity), itoa(f.Line), f.Message}, "|"))
	}
	return strings.Join(s, "\n")
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLint(t *testing.T) {
	fs, err := Lint("testdata/review.yaml", LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"warning|15|rules[4] can never match: rules[1] (line 7) matches every request it matches",
		`warning|19|rules[5] names verb "lsit", which no request has`,
		`warning|19|rules[5] names resource "deploymnets" in group "apps", which Kubernetes does not serve`,
		"warning|24|rules[7] can never match: rules[6] (line 22) matches every request it matches",
	}
	got := messages(fs)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("lint lacks %q:\n%s", w, got)
		}
	}
	if len(fs) != 4 {
		t.Errorf("%d findings, want 4:\n%s", len(fs), got)
	}

	strict, _ := Lint("testdata/review.yaml", LintOptions{BlockingStrict: true})
	if !strings.Contains(messages(strict), "warning|26|rules[8] omits RequestReceived: with blocking-strict") {
		t.Errorf("blocking-strict lint:\n%s", messages(strict))
	}

	noisy, _ := Lint("testdata/noisy.yaml", LintOptions{})
	for _, w := range []string{
		`warning|6|unknown field "rules[0].nameSpaces" (the server ignores it)`,
		"warning|4|no catch-all rule",
		"warning|3|RequestReceived is omitted nowhere",
	} {
		if !strings.Contains(messages(noisy), w) {
			t.Errorf("noisy lint lacks %q:\n%s", w, messages(noisy))
		}
	}

	invalid, _ := Lint("testdata/invalid.yaml", LintOptions{})
	for _, w := range []string{
		`error|5|rules[1].level: Unsupported value: "Loud"`,
		`error|6|rules[1].omitStages[0]: Invalid value: "Sometime"`,
	} {
		if !strings.Contains(messages(invalid), w) {
			t.Errorf("invalid lint lacks %q:\n%s", w, messages(invalid))
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte{0x7f, 'E', 'L', 'F', 0, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	yml := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(yml, []byte("rules: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/nonexistent.yaml", bin, yml} {
		if _, err := Load(path); !errors.Is(err, ErrBadInput) {
			t.Errorf("Load(%s): %v, want bad input", path, err)
		}
		if _, err := Lint(path, LintOptions{}); !errors.Is(err, ErrBadInput) {
			t.Errorf("Lint(%s): %v, want bad input", path, err)
		}
	}
}
