package v1alpha1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// The defaults of k8s.io/kubernetes v1.18 pkg/apis/auditregistration/v1alpha1/defaults.go.
const (
	// DefaultQPS is the batches a second a sink is sent at most.
	DefaultQPS = int64(10)
	// DefaultBurst is the batches a sink may be sent at once.
	DefaultBurst = int64(15)
	// DefaultServicePort is a service reference's port.
	DefaultServicePort = int32(443)
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	scheme.AddTypeDefaultingFunc(&AuditSink{}, func(obj interface{}) { SetDefaultsAuditSink(obj.(*AuditSink)) })
	scheme.AddTypeDefaultingFunc(&AuditSinkList{}, func(obj interface{}) {
		list := obj.(*AuditSinkList)
		for i := range list.Items {
			SetDefaultsAuditSink(&list.Items[i])
		}
	})
	return nil
}

// SetDefaultsAuditSink fills a missing throttle (or its missing qps or
// burst) and a service reference's missing port.
func SetDefaultsAuditSink(obj *AuditSink) {
	t := obj.Spec.Webhook.Throttle
	if t == nil {
		t = &WebhookThrottleConfig{}
		obj.Spec.Webhook.Throttle = t
	}
	if t.QPS == nil {
		t.QPS = ptr.To(DefaultQPS)
	}
	if t.Burst == nil {
		t.Burst = ptr.To(DefaultBurst)
	}
	if s := obj.Spec.Webhook.ClientConfig.Service; s != nil && s.Port == nil {
		s.Port = ptr.To(DefaultServicePort)
	}
}

// ServiceURL is where a service reference points, as upstream's default
// service resolver built it: https://<name>.<namespace>.svc:<port><path>.
func ServiceURL(s *ServiceReference) string {
	port := DefaultServicePort
	if s.Port != nil {
		port = *s.Port
	}
	path := ""
	if s.Path != nil {
		path = *s.Path
	}
	return fmt.Sprintf("https://%s.%s.svc:%d%s", s.Name, s.Namespace, port, path)
}
