package auditsink

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
)

func sink(mutate func(*auditreg.AuditSink)) *auditreg.AuditSink {
	s := &auditreg.AuditSink{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: auditreg.AuditSinkSpec{
		Policy:  auditreg.Policy{Level: auditreg.LevelMetadata, Stages: []auditreg.Stage{auditreg.StageResponseComplete}},
		Webhook: auditreg.Webhook{ClientConfig: auditreg.WebhookClientConfig{URL: ptr.To("https://audit.example.com/events")}},
	}}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestGenerationMovesOnlyWithTheSpec(t *testing.T) {
	s := NewStrategy(runtime.NewScheme())
	ctx := context.Background()
	old := sink(nil)
	s.PrepareForCreate(ctx, old)
	if old.Generation != 1 {
		t.Fatalf("generation on create %d", old.Generation)
	}
	labelled := sink(func(x *auditreg.AuditSink) { x.Labels = map[string]string{"a": "b"} })
	s.PrepareForUpdate(ctx, labelled, old)
	if labelled.Generation != 1 {
		t.Errorf("a metadata change moved the generation to %d", labelled.Generation)
	}
	changed := sink(func(x *auditreg.AuditSink) { x.Spec.Policy.Level = auditreg.LevelRequest })
	s.PrepareForUpdate(ctx, changed, old)
	if changed.Generation != 2 {
		t.Errorf("a spec change left the generation at %d", changed.Generation)
	}
}

func TestDefaultsAndWarnings(t *testing.T) {
	s := sink(func(x *auditreg.AuditSink) {
		x.Spec.Webhook.Throttle = &auditreg.WebhookThrottleConfig{QPS: ptr.To(int64(3))}
		x.Spec.Webhook.ClientConfig = auditreg.WebhookClientConfig{Service: &auditreg.ServiceReference{Namespace: "n", Name: "s"}}
	})
	auditreg.SetDefaultsAuditSink(s)
	if *s.Spec.Webhook.Throttle.QPS != 3 || *s.Spec.Webhook.Throttle.Burst != 15 || *s.Spec.Webhook.ClientConfig.Service.Port != 443 {
		t.Errorf("defaults: %+v %+v", *s.Spec.Webhook.Throttle, *s.Spec.Webhook.ClientConfig.Service)
	}
	noThrottle := sink(nil)
	auditreg.SetDefaultsAuditSink(noThrottle)
	if *noThrottle.Spec.Webhook.Throttle.QPS != 10 || *noThrottle.Spec.Webhook.Throttle.Burst != 15 {
		t.Errorf("default throttle: %+v", *noThrottle.Spec.Webhook.Throttle)
	}
}
