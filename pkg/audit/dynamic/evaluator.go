package dynamic

import (
	"net/url"
	"slices"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Evaluator decides what a request captures: the static policy's answer
// while no sink exists, everything (RequestResponse, every stage) while one
// does, since a sink may want any of it. Upstream captured everything
// whenever dynamic auditing was on; this costs only while sinks exist.
// The static policy's omitManagedFields for the request is kept: the
// bodies every backend gets leave managedFields out when the policy file
// says so, sinks included.
type Evaluator struct {
	// Static is --audit-policy-file's evaluator; nil without one.
	Static audit.PolicyRuleEvaluator
	Sinks  *Backend
}

// EvaluatePolicyRule implements audit.PolicyRuleEvaluator.
func (e *Evaluator) EvaluatePolicyRule(attrs authorizer.Attributes) audit.RequestAuditConfig {
	static := audit.RequestAuditConfig{Level: auditinternal.LevelNone}
	if e.Static != nil {
		static = e.Static.EvaluatePolicyRule(attrs)
	}
	if e.Sinks.Len() > 0 {
		return audit.RequestAuditConfig{Level: auditinternal.LevelRequestResponse, OmitManagedFields: static.OmitManagedFields}
	}
	return static
}

// StaticPolicy keeps the static backends (log, webhook) to exactly what
// --audit-policy-file says when a sink widened the capture: each event is
// evaluated again against the static policy, dropped or stripped to its
// level. Its result is its delegate's, so blocking-strict still fails a
// request whose event it could not store.
type StaticPolicy struct {
	audit.Backend
	Policy audit.PolicyRuleEvaluator
}

// ProcessEvents implements audit.Backend.
func (s *StaticPolicy) ProcessEvents(events ...*auditinternal.Event) bool {
	out := make([]*auditinternal.Event, 0, len(events))
	for _, ev := range events {
		if ev == nil {
			continue
		}
		cfg := s.Policy.EvaluatePolicyRule(attributes(ev))
		if cfg.Level == auditinternal.LevelNone || slices.Contains(cfg.OmitStages, ev.Stage) {
			continue
		}
		out = append(out, atLevel(ev, cfg.Level))
	}
	if len(out) == 0 {
		return true
	}
	return s.Backend.ProcessEvents(out...)
}

// attributes are the request's as the policy sees them, from its event
// (apiserver v0.18's pkg/audit/event/attributes.go). The policy matches the
// authenticated user, as the audit filter evaluates it.
func attributes(ev *auditinternal.Event) authorizer.Attributes {
	a := authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: ev.User.Username, UID: ev.User.UID, Groups: ev.User.Groups},
		Verb: ev.Verb,
	}
	if r := ev.ObjectRef; r != nil {
		a.ResourceRequest = true
		a.Namespace, a.Resource, a.Subresource, a.Name = r.Namespace, r.Resource, r.Subresource, r.Name
		a.APIGroup, a.APIVersion = r.APIGroup, r.APIVersion
	} else if u, err := url.ParseRequestURI(ev.RequestURI); err == nil {
		a.Path = u.Path
	}
	return a
}
