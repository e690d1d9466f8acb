package dynamic

import (
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
)

// collect is a backend keeping what it gets.
type collect struct {
	audit.Backend
	got []*auditinternal.Event
}

func (c *collect) ProcessEvents(evs ...*auditinternal.Event) bool {
	c.got = append(c.got, evs...)
	return true
}

// The static policy of the tests: pods at Metadata without
// RequestReceived, secrets at None, everything else at Request.
func staticPolicy() audit.PolicyRuleEvaluator {
	return policy.NewPolicyRuleEvaluator(&auditinternal.Policy{Rules: []auditinternal.PolicyRule{
		{Level: auditinternal.LevelMetadata, Resources: []auditinternal.GroupResources{{Resources: []string{"pods"}}},
			OmitStages: []auditinternal.Stage{auditinternal.StageRequestReceived}},
		{Level: auditinternal.LevelNone, Resources: []auditinternal.GroupResources{{Resources: []string{"secrets"}}}},
		{Level: auditinternal.LevelRequest},
	}})
}

func captured(stage auditinternal.Stage, resource string) *auditinternal.Event {
	ev := event(stage)
	ev.User = authnv1.UserInfo{Username: "alice"}
	if resource != "" {
		ev.ObjectRef = &auditinternal.ObjectReference{Resource: resource, Namespace: "default", APIVersion: "v1"}
	} else {
		ev.RequestURI = "/healthz?verbose"
	}
	return ev
}

// With the capture widened to RequestResponse, the static backends still
// get exactly what the static policy says.
func TestStaticPolicyIsKept(t *testing.T) {
	c := &collect{}
	s := &StaticPolicy{Backend: c, Policy: staticPolicy()}
	pod, podRR, secret, url := captured(auditinternal.StageResponseComplete, "pods"), captured(auditinternal.StageRequestReceived, "pods"),
		captured(auditinternal.StageResponseComplete, "secrets"), captured(auditinternal.StageResponseComplete, "")
	s.ProcessEvents(pod, podRR, secret, url)
	if len(c.got) != 2 {
		t.Fatalf("static backends got %d events, want the pod's ResponseComplete and the URL's", len(c.got))
	}
	if e := c.got[0]; e.AuditID != pod.AuditID || e.Level != auditinternal.LevelMetadata || e.RequestObject != nil || e.ResponseObject != nil {
		t.Errorf("pod event %s level %s request=%v response=%v", e.AuditID, e.Level, e.RequestObject != nil, e.ResponseObject != nil)
	}
	if e := c.got[1]; e.AuditID != url.AuditID || e.Level != auditinternal.LevelRequest || e.RequestObject == nil || e.ResponseObject != nil {
		t.Errorf("URL event level %s request=%v response=%v", e.Level, e.RequestObject != nil, e.ResponseObject != nil)
	}
	if pod.RequestObject == nil || pod.Level != auditinternal.LevelRequestResponse {
		t.Errorf("the shared event was changed: the sinks would see it stripped")
	}
}

// The capture is the static policy's while no sink exists, everything
// while one does.
func TestEvaluatorCapturesForSinksOnlyWhileThereAreSome(t *testing.T) {
	b := newRunning(t, fastBatch())
	e := &Evaluator{Static: staticPolicy(), Sinks: b}
	secrets := authorizer.AttributesRecord{Verb: "get", Resource: "secrets", ResourceRequest: true}
	if got := e.EvaluatePolicyRule(secrets).Level; got != auditinternal.LevelNone {
		t.Errorf("no sinks: level %s, want the static None", got)
	}
	r, ca := receiver(t)
	if err := b.Set(auditSink("1", "s", r.URL()+"/audit", ca, auditreg.LevelMetadata, auditreg.StageResponseComplete)); err != nil {
		t.Fatal(err)
	}
	if got := e.EvaluatePolicyRule(secrets); got.Level != auditinternal.LevelRequestResponse || len(got.OmitStages) != 0 || got.OmitManagedFields {
		t.Errorf("with a sink: %+v, want RequestResponse with every stage", got)
	}
	// The policy file's omitManagedFields holds for the widened capture.
	omitting := &Evaluator{Sinks: b, Static: policy.NewPolicyRuleEvaluator(&auditinternal.Policy{OmitManagedFields: true,
		Rules: []auditinternal.PolicyRule{{Level: auditinternal.LevelMetadata}}})}
	if got := omitting.EvaluatePolicyRule(secrets); got.Level != auditinternal.LevelRequestResponse || !got.OmitManagedFields {
		t.Errorf("with a sink and omitManagedFields: %+v", got)
	}
	b.Delete("1")
	if got := (&Evaluator{Sinks: b}).EvaluatePolicyRule(secrets).Level; got != auditinternal.LevelNone {
		t.Errorf("no static policy, no sinks: level %s", got)
	}
}
