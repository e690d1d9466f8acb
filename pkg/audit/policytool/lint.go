package policytool

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditinstall "k8s.io/apiserver/pkg/apis/audit/install"
	"k8s.io/apiserver/pkg/apis/audit/validation"
)

// Severity of a finding.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one lint result, located in the file.
type Finding struct {
	Severity Severity
	Line     int
	Message  string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s", f.Severity, f.Message) }

// LintOptions say how the policy will be used.
type LintOptions struct {
	// BlockingStrict: the policy serves a blocking-strict backend, which
	// refuses a request only when its RequestReceived event cannot be stored.
	BlockingStrict bool
}

var strictScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	auditinstall.Install(s)
	return s
}()

// Lint reports the library's validation errors and what a careful reviewer
// would warn about. It returns findings sorted by line.
func Lint(path string, opts LintOptions) ([]Finding, error) {
	p, data, err := Read(path)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	add := func(sev Severity, line int, format string, args ...interface{}) {
		findings = append(findings, Finding{Severity: sev, Line: line, Message: fmt.Sprintf(format, args...)})
	}

	// Decode as the server does: strictly, then leniently. Fields the strict
	// decoder refuses are silently ignored by the server: a warning.
	pol := &auditinternal.Policy{}
	_, _, strictErr := serializer.NewCodecFactory(strictScheme, serializer.EnableStrict).UniversalDecoder().Decode(data, nil, pol)
	if strictErr != nil {
		if !runtime.IsStrictDecodingError(strictErr) {
			add(Error, 1, "%v", strictErr)
			return findings, nil
		}
		pol = &auditinternal.Policy{}
		if _, _, err := serializer.NewCodecFactory(strictScheme).UniversalDecoder().Decode(data, nil, pol); err != nil {
			add(Error, 1, "%v", err)
			return findings, nil
		}
		for _, msg := range strictErrors(strictErr) {
			add(Warning, lineOfUnknownField(p, msg), "%s (the server ignores it)", msg)
		}
	}
	for _, e := range validation.ValidatePolicy(pol) {
		add(Error, p.LineOf(e.Field), "%s", e.Error())
	}
	if len(pol.Rules) == 0 {
		add(Error, p.LineOf("rules"), "rules: the policy has no rules (the server refuses it)")
	}
	if hasErrors(findings) {
		sortFindings(findings)
		return findings, nil
	}

	line := func(i int) int {
		if i < len(p.RuleLines) {
			return p.RuleLines[i]
		}
		return 0
	}
	for j := range pol.Rules {
		for i := 0; i < j; i++ {
			if covers(pol.Rules[i], pol.Rules[j]) {
				add(Warning, line(j), "rules[%d] can never match: rules[%d] (line %d) matches every request it matches", j, i, line(i))
				break
			}
		}
		for _, msg := range unknownTargets(pol.Rules[j]) {
			add(Warning, line(j), "rules[%d] %s", j, msg)
		}
	}
	if last := len(pol.Rules) - 1; !isCatchAll(pol.Rules[last]) {
		add(Warning, line(last), "no catch-all rule: requests no rule matches are not audited (level None); end with a rule without selectors to make that explicit")
	}
	omittedByPolicy := slices.Contains(pol.OmitStages, auditinternal.StageRequestReceived)
	omittedSomewhere := omittedByPolicy
	for _, r := range pol.Rules {
		if slices.Contains(r.OmitStages, auditinternal.StageRequestReceived) && r.Level != auditinternal.LevelNone {
			omittedSomewhere = true
		}
	}
	if !omittedSomewhere && !opts.BlockingStrict {
		add(Warning, p.LineOf("rules"), "RequestReceived is omitted nowhere: every audited request is recorded twice (RequestReceived and ResponseComplete); add omitStages: [RequestReceived] unless you need it")
	}
	if opts.BlockingStrict {
		if omittedByPolicy {
			add(Warning, p.LineOf("omitStages"), "omitStages drops RequestReceived for every rule: a blocking-strict backend then never refuses a request")
		}
		for i, r := range pol.Rules {
			if slices.Contains(r.OmitStages, auditinternal.StageRequestReceived) && r.Level != auditinternal.LevelNone {
				add(Warning, line(i), "rules[%d] omits RequestReceived: with blocking-strict, the requests it matches are never refused when the backend fails", i)
			}
		}
	}
	sortFindings(findings)
	return findings, nil
}

func hasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(a, b int) bool { return fs[a].Line < fs[b].Line })
}

func strictErrors(err error) []string {
	msg := strings.TrimPrefix(err.Error(), "strict decoding error: ")
	return strings.Split(msg, ", ")
}

// lineOfUnknownField finds the line of `unknown field "rules[0].nameSpaces"`.
func lineOfUnknownField(p *Policy, msg string) int {
	if _, quoted, ok := strings.Cut(msg, `"`); ok {
		return p.LineOf(strings.TrimSuffix(quoted, `"`))
	}
	return 0
}

func isCatchAll(r auditinternal.PolicyRule) bool {
	return len(r.Users) == 0 && len(r.UserGroups) == 0 && len(r.Verbs) == 0 && len(r.Resources) == 0 &&
		len(r.Namespaces) == 0 && len(r.NonResourceURLs) == 0
}

// covers reports, conservatively, whether every request rule b matches is
// also matched by rule a (so b, placed after a, is dead).
func covers(a, b auditinternal.PolicyRule) bool {
	if !subset(a.Users, b.Users) || !subset(a.UserGroups, b.UserGroups) || !subset(a.Verbs, b.Verbs) {
		return false
	}
	aRes := len(a.Namespaces) > 0 || len(a.Resources) > 0
	bRes := len(b.Namespaces) > 0 || len(b.Resources) > 0
	switch {
	case !aRes && len(a.NonResourceURLs) == 0:
		return true // a matches every request its users, groups and verbs allow
	case aRes:
		if !bRes {
			return false
		}
		return subset(a.Namespaces, b.Namespaces) && resourcesCover(a.Resources, b.Resources)
	default: // a matches non-resource URLs only
		if bRes || len(b.NonResourceURLs) == 0 {
			return false
		}
		for _, u := range b.NonResourceURLs {
			if !urlCovered(a.NonResourceURLs, u) {
				return false
			}
		}
		return true
	}
}

// subset: an empty list matches everything; otherwise a must hold all of b.
func subset(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func resourcesCover(a, b []auditinternal.GroupResources) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, gb := range b {
		found := false
		for _, ga := range a {
			if ga.Group != gb.Group {
				continue
			}
			if (len(ga.Resources) == 0 || (len(gb.Resources) > 0 && allCovered(ga.Resources, gb.Resources))) &&
				(len(ga.ResourceNames) == 0 || (len(gb.ResourceNames) > 0 && subset(ga.ResourceNames, gb.ResourceNames))) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func allCovered(a, b []string) bool {
	for _, r := range b {
		if !resourceCovered(a, r) {
			return false
		}
	}
	return true
}

// resourceCovered follows the policy's resource patterns: "pods", "pods/log",
// "pods/*" (every subresource of pods), "*/status".
func resourceCovered(patterns []string, r string) bool {
	res, sub, _ := strings.Cut(r, "/")
	for _, p := range patterns {
		pres, psub, hasSub := strings.Cut(p, "/")
		switch {
		case p == r:
			return true
		case hasSub && psub == "*" && pres == res && sub != "":
			return true
		case hasSub && pres == "*" && psub == sub && sub != "":
			return true
		}
	}
	return false
}

func urlCovered(patterns []string, u string) bool {
	for _, p := range patterns {
		if p == u || p == "*" || (strings.HasSuffix(p, "*") && strings.HasPrefix(strings.TrimSuffix(u, "*"), strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

var knownVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"proxy", "impersonate", "bind", "escalate", "approve", "sign", "use"}

// knownResources are the built-in resources of Kubernetes v1.37 most policies
// name, by group; a name outside them is probably a typo.
var knownResources = map[string][]string{
	"": {"bindings", "componentstatuses", "configmaps", "endpoints", "events", "limitranges", "namespaces", "nodes",
		"persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates", "replicationcontrollers", "resourcequotas",
		"secrets", "serviceaccounts", "services"},
	"apps":                         {"controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"},
	"batch":                        {"cronjobs", "jobs"},
	"autoscaling":                  {"horizontalpodautoscalers"},
	"policy":                       {"poddisruptionbudgets"},
	"networking.k8s.io":            {"ingressclasses", "ingresses", "networkpolicies", "ipaddresses", "servicecidrs"},
	"rbac.authorization.k8s.io":    {"clusterrolebindings", "clusterroles", "rolebindings", "roles"},
	"storage.k8s.io":               {"csidrivers", "csinodes", "csistoragecapacities", "storageclasses", "volumeattachments", "volumeattributesclasses"},
	"coordination.k8s.io":          {"leases", "leasecandidates"},
	"discovery.k8s.io":             {"endpointslices"},
	"events.k8s.io":                {"events"},
	"authentication.k8s.io":        {"selfsubjectreviews", "tokenreviews"},
	"authorization.k8s.io":         {"localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"},
	"certificates.k8s.io":          {"certificatesigningrequests", "clustertrustbundles"},
	"admissionregistration.k8s.io": {"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"},
	"apiextensions.k8s.io":         {"customresourcedefinitions"},
	"apiregistration.k8s.io":       {"apiservices"},
	"scheduling.k8s.io":            {"priorityclasses"},
	"node.k8s.io":                  {"runtimeclasses"},
	"flowcontrol.apiserver.k8s.io": {"flowschemas", "prioritylevelconfigurations"},
	"resource.k8s.io":              {"deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"},
}

// unknownTargets names verbs and built-in-group resources no request has.
// Resources of other groups (custom resources) are not judged.
func unknownTargets(r auditinternal.PolicyRule) []string {
	var msgs []string
	for _, v := range r.Verbs {
		if !slices.Contains(knownVerbs, v) {
			msgs = append(msgs, fmt.Sprintf("names verb %q, which no request has (known: %s)", v, strings.Join(knownVerbs, ", ")))
		}
	}
	for _, gr := range r.Resources {
		known, builtin := knownResources[gr.Group]
		if !builtin {
			continue
		}
		for _, res := range gr.Resources {
			name, _, _ := strings.Cut(res, "/")
			if name != "*" && !slices.Contains(known, name) {
				msgs = append(msgs, fmt.Sprintf("names resource %q in group %q, which Kubernetes does not serve", res, gr.Group))
			}
		}
	}
	return msgs
}
