// Package policytool explains and lints audit policies with
// k8s.io/apiserver's own loader, validation and rule evaluator, so its answers
// are the server's.
package policytool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Policy is a loaded policy file with the position of each rule.
type Policy struct {
	Path   string
	Policy *auditinternal.Policy
	// RuleLines are the 1-based lines where each rule starts; RuleTexts the
	// rules as written.
	RuleLines []int
	RuleTexts []string
	lines     []string
	root      *yaml.Node
}

// ErrBadInput marks errors in reading the file itself (missing, not text,
// not YAML), as opposed to a policy that is YAML but invalid.
var ErrBadInput = errors.New("bad input")

// Read reads a policy file and locates its rules, without validating it.
func Read(path string) (*Policy, []byte, error) {
	data, err := readText(path)
	if err != nil {
		return nil, nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: not YAML: %v", ErrBadInput, path, err)
	}
	p := &Policy{Path: path, lines: strings.Split(string(data), "\n"), root: &doc}
	if rules := p.node("rules"); rules != nil && rules.Kind == yaml.SequenceNode {
		for i, r := range rules.Content {
			end := len(p.lines)
			if i+1 < len(rules.Content) {
				end = rules.Content[i+1].Line - 1
			} else if next := p.nextTopLevelLine(rules); next > 0 {
				end = next - 1
			}
			p.RuleLines = append(p.RuleLines, r.Line)
			p.RuleTexts = append(p.RuleTexts, strings.TrimRight(strings.Join(p.lines[r.Line-1:end], "\n"), "\n "))
		}
	}
	return p, data, nil
}

// Load reads and validates a policy exactly as the server does.
func Load(path string) (*Policy, error) {
	p, data, err := Read(path)
	if err != nil {
		return nil, err
	}
	if p.Policy, err = policy.LoadPolicyFromBytes(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// node returns the value of a top-level key.
func (p *Policy) node(key string) *yaml.Node {
	if p.root == nil || len(p.root.Content) == 0 {
		return nil
	}
	m := p.root.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// nextTopLevelLine is the line of the first top-level key after n.
func (p *Policy) nextTopLevelLine(n *yaml.Node) int {
	m := p.root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Line > n.Line {
			return m.Content[i].Line
		}
	}
	return 0
}

// LineOf maps a field path such as "rules[2].level" to its line (0 if
// unknown).
func (p *Policy) LineOf(path string) int {
	if p.root == nil || len(p.root.Content) == 0 {
		return 0
	}
	n := p.root.Content[0]
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		name, index, hasIndex := strings.Cut(part, "[")
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, next = n.Content[i].Line, n.Content[i+1]
			}
		}
		if next == nil {
			return line
		}
		n = next
		if hasIndex {
			var i int
			if _, err := fmt.Sscanf(strings.TrimSuffix(index, "]"), "%d", &i); err != nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}

// Request describes a request to explain.
type Request struct {
	User        string
	Groups      []string
	Verb        string
	APIGroup    string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	// Path makes it a non-resource request.
	Path string
}

// Attributes is the request as the audit filter sees it. An authenticated
// user is in system:authenticated, system:anonymous in
// system:unauthenticated, as the server adds them.
func (r Request) Attributes() authorizer.Attributes {
	groups := append([]string{}, r.Groups...)
	implied := user.AllAuthenticated
	if r.User == user.Anonymous {
		implied = user.AllUnauthenticated
	}
	has := false
	for _, g := range groups {
		if g == implied {
			has = true
		}
	}
	if !has {
		groups = append(groups, implied)
	}
	u := &user.DefaultInfo{Name: r.User, Groups: groups}
	if r.Path != "" {
		return authorizer.AttributesRecord{User: u, Verb: r.Verb, Path: r.Path}
	}
	return authorizer.AttributesRecord{User: u, Verb: r.Verb, APIGroup: r.APIGroup, APIVersion: "v1", Resource: r.Resource,
		Subresource: r.Subresource, Namespace: r.Namespace, Name: r.Name, ResourceRequest: true}
}

// Explanation is what the policy decides for a request.
type Explanation struct {
	// Rule is the index of the first matching rule, -1 when none matches.
	Rule              int
	Level             auditinternal.Level
	OmitStages        []auditinternal.Stage
	OmitManagedFields bool
}

// Explain evaluates the request with the library's evaluator and finds the
// rule that decided.
func (p *Policy) Explain(r Request) Explanation {
	attrs := r.Attributes()
	result := policy.NewPolicyRuleEvaluator(p.Policy.DeepCopy()).EvaluatePolicyRule(attrs)
	e := Explanation{Rule: p.FirstMatch(attrs), Level: result.Level, OmitManagedFields: result.OmitManagedFields}
	for _, s := range []auditinternal.Stage{auditinternal.StageRequestReceived, auditinternal.StageResponseStarted,
		auditinternal.StageResponseComplete, auditinternal.StagePanic} {
		for _, o := range result.OmitStages {
			if o == s {
				e.OmitStages = append(e.OmitStages, s)
			}
		}
	}
	return e
}

// FirstMatch returns the index of the first rule matching attrs (-1 if
// none). Each rule is asked alone through the library's evaluator, with
// its level replaced by a marker, so matching is the library's.
func (p *Policy) FirstMatch(attrs authorizer.Attributes) int {
	for i := range p.Policy.Rules {
		if ruleMatches(p.Policy.Rules[i], attrs) {
			return i
		}
	}
	return -1
}

func ruleMatches(rule auditinternal.PolicyRule, attrs authorizer.Attributes) bool {
	probe := *rule.DeepCopy()
	probe.Level = auditinternal.LevelMetadata
	single := &auditinternal.Policy{Rules: []auditinternal.PolicyRule{probe}}
	return policy.NewPolicyRuleEvaluator(single).EvaluatePolicyRule(attrs).Level == auditinternal.LevelMetadata
}

// readText reads a file that must be text (a policy, a manifest): a
// missing or binary file is ErrBadInput.
func readText(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("%w: %s is not a text file", ErrBadInput, path)
	}
	return data, nil
}
