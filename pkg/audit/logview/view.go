package logview

import (
	"fmt"
	"strconv"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// Filter keeps events whose fields equal the non-empty criteria.
type Filter struct {
	User      string // the user or the impersonated user
	Verb      string
	Resource  string
	Namespace string
	Level     string
	Stage     string
	Code      int32
}

// Match reports whether e passes the filter.
func (f Filter) Match(e *auditv1.Event) bool {
	if f.User != "" && e.User.Username != f.User && (e.ImpersonatedUser == nil || e.ImpersonatedUser.Username != f.User) {
		return false
	}
	if f.Verb != "" && e.Verb != f.Verb {
		return false
	}
	if f.Resource != "" && (e.ObjectRef == nil || (e.ObjectRef.Resource != f.Resource && e.ObjectRef.Resource+"/"+e.ObjectRef.Subresource != f.Resource)) {
		return false
	}
	if f.Namespace != "" && (e.ObjectRef == nil || e.ObjectRef.Namespace != f.Namespace) {
		return false
	}
	if f.Level != "" && string(e.Level) != f.Level {
		return false
	}
	if f.Stage != "" && string(e.Stage) != f.Stage {
		return false
	}
	if f.Code != 0 && (e.ResponseStatus == nil || e.ResponseStatus.Code != f.Code) {
		return false
	}
	return true
}

// Levels and stages a filter may name.
var (
	Levels = []string{"None", "Metadata", "Request", "RequestResponse"}
	Stages = []string{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
)

// Format prints an event on one line: time, stage, level, user (and whom
// it impersonated), verb, target, code, authorization decision.
func Format(e *auditv1.Event) string {
	who := e.User.Username
	if who == "" {
		who = "(unauthenticated)"
	}
	if e.ImpersonatedUser != nil {
		who += " as " + e.ImpersonatedUser.Username
	}
	target := e.RequestURI
	if r := e.ObjectRef; r != nil {
		target = r.Resource
		if r.Subresource != "" {
			target += "/" + r.Subresource
		}
		switch {
		case r.Namespace != "" && r.Name != "":
			target += " " + r.Namespace + "/" + r.Name
		case r.Namespace != "":
			target += " " + r.Namespace + "/"
		case r.Name != "":
			target += " " + r.Name
		}
	}
	code := "-"
	if e.ResponseStatus != nil && e.ResponseStatus.Code != 0 {
		code = strconv.Itoa(int(e.ResponseStatus.Code))
	}
	decision := e.Annotations[events.DecisionAnnotation]
	if decision == "" {
		decision = "-"
	}
	ts := e.StageTimestamp.UTC().Format("15:04:05.000")
	return strings.TrimRight(fmt.Sprintf("%s %-16s %-15s %-30s %-16s %-40s %-4s %s",
		ts, e.Stage, e.Level, who, e.Verb, target, code, decision), " ")
}

// ShortID abbreviates an audit ID for grouping headers.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
