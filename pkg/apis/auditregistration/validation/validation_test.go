package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// The rules and messages of kube v1.18's auditregistration validation.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*auditreg.AuditSink)
		want   string
	}{
		{"valid", nil, ""},
		{"no level", func(s *auditreg.AuditSink) { s.Spec.Policy.Level = "" }, "spec.policy.level: Required value"},
		{"unknown level", func(s *auditreg.AuditSink) { s.Spec.Policy.Level = "Loud" },
			`spec.policy.level: Unsupported value: "Loud": supported values: "Metadata", "None", "Request", "RequestResponse"`},
		{"unknown stage", func(s *auditreg.AuditSink) { s.Spec.Policy.Stages = []auditreg.Stage{"Later"} },
			`spec.policy.stages[0]: Invalid value: "Later": allowed stages are Panic,RequestReceived,ResponseComplete,ResponseStarted`},
		{"level without stages", func(s *auditreg.AuditSink) { s.Spec.Policy.Stages = nil }, "spec.policy.stages: Required value"},
		{"None without stages", func(s *auditreg.AuditSink) { s.Spec.Policy = auditreg.Policy{Level: auditreg.LevelNone} }, ""},
		{"qps", func(s *auditreg.AuditSink) {
			s.Spec.Webhook.Throttle = &auditreg.WebhookThrottleConfig{QPS: ptr.To(int64(0))}
		},
			"spec.webhook.throttle.qps: Invalid value: 0: qps must be a positive number"},
		{"burst", func(s *auditreg.AuditSink) {
			s.Spec.Webhook.Throttle = &auditreg.WebhookThrottleConfig{Burst: ptr.To(int64(-1))}
		},
			"spec.webhook.throttle.burst: Invalid value: -1: burst must be a positive number"},
		{"neither url nor service", func(s *auditreg.AuditSink) { s.Spec.Webhook.ClientConfig.URL = nil },
			"spec.webhook.clientConfig: Required value: exactly one of url or service is required"},
		{"both url and service", func(s *auditreg.AuditSink) {
			s.Spec.Webhook.ClientConfig.Service = &auditreg.ServiceReference{Namespace: "n", Name: "s"}
		}, "spec.webhook.clientConfig: Required value: exactly one of url or service is required"},
		{"url not http", func(s *auditreg.AuditSink) { s.Spec.Webhook.ClientConfig.URL = ptr.To("ftp://audit.example.com") },
			`spec.webhook.clientConfig.url: Unsupported value: "ftp": supported values: "http", "https"`},
		{"url with user", func(s *auditreg.AuditSink) { s.Spec.Webhook.ClientConfig.URL = ptr.To("https://u:p@audit.example.com") },
			"spec.webhook.clientConfig.url: Invalid value"},
		{"service without name", func(s *auditreg.AuditSink) {
			s.Spec.Webhook.ClientConfig = auditreg.WebhookClientConfig{Service: &auditreg.ServiceReference{Namespace: "n"}}
		}, "spec.webhook.clientConfig.service.name: Required value"},
		{"caBundle", func(s *auditreg.AuditSink) { s.Spec.Webhook.ClientConfig.CABundle = []byte("not PEM") },
			"spec.webhook.clientConfig.caBundle: Invalid value"},
		{"name", func(s *auditreg.AuditSink) { s.Name = "Not_A_Name" }, `metadata.name: Invalid value: "Not_A_Name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(sink(tc.mutate))
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("valid sink refused: %v", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("errors %v, want %q", errs, tc.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	for url, warn := range map[string]bool{"http://10.0.0.1:8080/audit": true, "http://127.0.0.1:8080/audit": false,
		"http://localhost/audit": false, "https://audit.example.com": false} {
		w := Warnings(sink(func(x *auditreg.AuditSink) { x.Spec.Webhook.ClientConfig.URL = ptr.To(url) }))
		if (len(w) > 0) != warn {
			t.Errorf("%s: warnings %v", url, w)
		}
	}
}
