// Package abac is kube-apiserver's ABAC authorizer (--authorization-mode=ABAC
// with --authorization-policy-file): one JSON policy object per line, in the
// abac.authorization.kubernetes.io/v1beta1 format or the older unversioned
// one, matched with kube's rules. kube's implementation lives in
// k8s.io/kubernetes, which mini-apiserver does not import.
package abac

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// APIVersion is the versioned ABAC policy format.
const APIVersion = "abac.authorization.kubernetes.io/v1beta1"

// Spec is what a policy line grants.
type Spec struct {
	User            string `json:"user,omitempty"`
	Group           string `json:"group,omitempty"`
	Readonly        bool   `json:"readonly,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	NonResourcePath string `json:"nonResourcePath,omitempty"`
}

// Policy is one line of a policy file.
type Policy struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Spec       Spec   `json:"spec"`
}

// unversioned is the v0 line format: the spec fields at top level.
type unversioned struct {
	User      string `json:"user,omitempty"`
	Group     string `json:"group,omitempty"`
	Readonly  bool   `json:"readonly,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// PolicyList is a loaded policy file, in order.
type PolicyList []Spec

// LoadError names the file and line a policy could not be read from.
type LoadError struct {
	Path string
	Line int
	Data string
	Err  error
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("error reading policy file %s, line %d: %s: %v", e.Path, e.Line, e.Data, e.Err)
	}
	return fmt.Sprintf("error reading policy file %s: %v", e.Path, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// NewFromFile loads a policy file. Blank lines and lines starting with #
// are skipped; any other line must be a policy.
func NewFromFile(path string) (PolicyList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	var pl PolicyList
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		spec, err := parseLine([]byte(line))
		if err != nil {
			return nil, &LoadError{Path: path, Line: n, Data: line, Err: err}
		}
		pl = append(pl, spec)
	}
	if err := scanner.Err(); err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	return pl, nil
}

func parseLine(line []byte) (Spec, error) {
	var typed struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(line, &typed); err != nil {
		return Spec{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	switch {
	case typed.APIVersion == "" && typed.Kind == "":
		var v0 unversioned
		if err := dec.Decode(&v0); err != nil {
			return Spec{}, err
		}
		return convertV0(v0), nil
	case typed.APIVersion == APIVersion && typed.Kind == "Policy":
		var p Policy
		if err := dec.Decode(&p); err != nil {
			return Spec{}, err
		}
		return p.Spec, nil
	default:
		return Spec{}, fmt.Errorf("unknown apiVersion %q and kind %q, want %q and \"Policy\" (or an unversioned policy)", typed.APIVersion, typed.Kind, APIVersion)
	}
}

// convertV0 applies kube's conversion of unversioned policies: empty
// fields are wildcards and any user or group means all authenticated users.
func convertV0(in unversioned) Spec {
	out := Spec{User: in.User, Group: in.Group, Readonly: in.Readonly, Resource: in.Resource, Namespace: in.Namespace, APIGroup: "*"}
	if in.User == "" && in.Group == "" {
		out.Group = user.AllAuthenticated
	}
	if in.User == "*" || in.Group == "*" {
		out.User, out.Group = "", user.AllAuthenticated
	}
	if in.Namespace == "" {
		out.Namespace = "*"
	}
	if in.Resource == "" {
		out.Resource = "*"
	}
	if in.Namespace == "" && in.Resource == "" {
		out.NonResourcePath = "*"
	}
	return out
}

// Authorize allows a request that some policy matches, and has no opinion
// otherwise ("No policy matched.", as kube says).
func (pl PolicyList) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	for _, p := range pl {
		if p.matches(a) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "No policy matched.", nil
}

func (p Spec) matches(a authorizer.Attributes) bool {
	if !p.subjectMatches(a.GetUser()) || !p.verbMatches(a) {
		return false
	}
	return p.resourceMatches(a) || p.nonResourceMatches(a)
}

func (p Spec) subjectMatches(u user.Info) bool {
	if u == nil {
		return false
	}
	matched := false
	if p.User != "" {
		if p.User != "*" && p.User != u.GetName() {
			return false
		}
		matched = true
	}
	if p.Group != "" {
		if p.Group != "*" {
			found := false
			for _, g := range u.GetGroups() {
				if g == p.Group {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		matched = true
	}
	return matched
}

func (p Spec) verbMatches(a authorizer.Attributes) bool {
	return a.IsReadOnly() || !p.Readonly
}

func (p Spec) resourceMatches(a authorizer.Attributes) bool {
	return a.IsResourceRequest() &&
		(p.Namespace == "*" || p.Namespace == a.GetNamespace()) &&
		(p.Resource == "*" || p.Resource == a.GetResource()) &&
		(p.APIGroup == "*" || p.APIGroup == a.GetAPIGroup())
}

func (p Spec) nonResourceMatches(a authorizer.Attributes) bool {
	if a.IsResourceRequest() {
		return false
	}
	path := p.NonResourcePath
	return path == "*" || path == a.GetPath() ||
		(strings.HasSuffix(path, "*") && strings.HasPrefix(a.GetPath(), strings.TrimRight(path, "*")))
}

// RulesFor is not supported: ABAC cannot enumerate what a user may do.
func (pl PolicyList) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	return nil, nil, false, errors.New("ABAC cannot list rules")
}
