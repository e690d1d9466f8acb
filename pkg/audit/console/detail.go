package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

// Detail is one request: every event, the objects and what the server
// changed between them, and why the policy chose its level.
type Detail struct {
	Row    Row               `json:"row"`
	Events []json.RawMessage `json:"events"`
	// Annotations of all its events (authorization reason, pod-security, ...).
	Annotations map[string]string `json:"annotations"`
	// RequestObject and ResponseObject are the bodies the events carry.
	RequestObject  json.RawMessage `json:"requestObject,omitempty"`
	ResponseObject json.RawMessage `json:"responseObject,omitempty"`
	// Diff is the response object against the request object: what
	// defaulting, admission and storage added or changed.
	Diff []Change `json:"diff,omitempty"`
	// Explain is the rule of the policy (--policy) that decided the level.
	Explain *Explanation `json:"explain,omitempty"`
}

// Change is one field that differs.
type Change struct {
	Path string `json:"path"`
	Op   string `json:"op"` // added, changed, removed
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Explanation is auditctl explain's answer for the request.
type Explanation struct {
	Policy string `json:"policy"`
	// Rule is the index of the deciding rule, -1 when none matches.
	Rule       int      `json:"rule"`
	Line       int      `json:"line,omitempty"`
	Text       string   `json:"text,omitempty"`
	Level      string   `json:"level"`
	OmitStages []string `json:"omitStages,omitempty"`
}

// detail builds the Detail of a request, nil if unknown: its events are
// decoded in full here, from the lines the store keeps.
func (s *Store) detail(id string, policy *policytool.Policy) (*Detail, error) {
	row, lines, ok := s.lines(id)
	if !ok {
		return nil, nil
	}
	d := &Detail{Row: row, Annotations: map[string]string{}}
	var first *auditv1.Event
	for _, line := range lines {
		e, err := events.DecodeEvent(line)
		if err != nil {
			return nil, fmt.Errorf("event of %s: %w", id, err)
		}
		d.Events = append(d.Events, line)
		for k, v := range e.Annotations {
			d.Annotations[k] = v
		}
		if e.RequestObject != nil {
			d.RequestObject = e.RequestObject.Raw
		}
		if e.ResponseObject != nil {
			d.ResponseObject = e.ResponseObject.Raw
		}
		if first == nil {
			first = &e
		}
	}
	if d.RequestObject != nil && d.ResponseObject != nil {
		d.Diff = diff(d.RequestObject, d.ResponseObject)
	}
	if policy != nil {
		d.Explain = explain(policy, first)
	}
	return d, nil
}

// explain evaluates the request against the policy with auditctl explain's
// evaluator (the library's): the policy sees the authenticated user and the
// request's attributes, as the audit filter does.
func explain(p *policytool.Policy, e *auditv1.Event) *Explanation {
	req := policytool.Request{User: e.User.Username, Groups: e.User.Groups, Verb: e.Verb}
	if o := e.ObjectRef; o != nil {
		req.APIGroup, req.Resource, req.Subresource, req.Namespace, req.Name = o.APIGroup, o.Resource, o.Subresource, o.Namespace, o.Name
		if e.Verb == "create" && o.Subresource == "" {
			req.Name = "" // not in a create's URL, so not in its attributes
		}
	} else if u, err := url.ParseRequestURI(e.RequestURI); err == nil {
		req.Path = u.Path
	}
	x := p.Explain(req)
	out := &Explanation{Policy: p.Path, Rule: x.Rule, Level: string(x.Level)}
	if x.Rule >= 0 {
		out.Line, out.Text = p.RuleLines[x.Rule], p.RuleTexts[x.Rule]
	}
	for _, s := range x.OmitStages {
		out.OmitStages = append(out.OmitStages, string(s))
	}
	return out
}

// diff compares two JSON objects field by field. managedFields is compared
// as one value: its entries say who set what, not what the object is.
func diff(from, to json.RawMessage) []Change {
	var a, b any
	if json.Unmarshal(from, &a) != nil || json.Unmarshal(to, &b) != nil {
		return nil
	}
	fa, fb := map[string]string{}, map[string]string{}
	flatten("", a, fa)
	flatten("", b, fb)
	var out []Change
	for p, v := range fb {
		old, ok := fa[p]
		switch {
		case !ok:
			out = append(out, Change{Path: p, Op: "added", To: v})
		case old != v:
			out = append(out, Change{Path: p, Op: "changed", From: old, To: v})
		}
	}
	for p, v := range fa {
		if _, ok := fb[p]; !ok {
			out = append(out, Change{Path: p, Op: "removed", From: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func flatten(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return // an empty object says nothing a missing one does not
		}
		for k, child := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			flatten(p, child, out)
		}
		return
	case []any:
		if len(x) == 0 {
			return
		}
		if strings.HasSuffix(path, ".managedFields") {
			out[path] = managers(x)
			return
		}
		for i, child := range x {
			flatten(fmt.Sprintf("%s[%d]", path, i), child, out)
		}
		return
	}
	raw, _ := json.Marshal(v)
	out[path] = string(raw)
}

// managers sums managedFields up as who set fields and how.
func managers(entries []any) string {
	var who []string
	for _, e := range entries {
		m, _ := e.(map[string]any)
		who = append(who, fmt.Sprintf("%v (%v)", m["manager"], m["operation"]))
	}
	return fmt.Sprintf("%d field managers: %s", len(entries), strings.Join(who, ", "))
}
