package harness

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mini-apiserver/mini-apiserver/pkg/server"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/client/auditsinks"
)

// DynamicAuditBatchWait is how long a sink's batch waits with
// Options.DynamicAudit: short, so tests see events within a second
// (upstream's 30s otherwise).
const DynamicAuditBatchWait = 200 * time.Millisecond

// dynamicAuditFlags are the three switches of the dynamic backend and the
// short batch wait, as the binary takes them.
func dynamicAuditFlags() []string {
	return []string{"--audit-dynamic-configuration", "--runtime-config=" + server.AuditRegistrationGroupVersion + "=true",
		"--audit-dynamic-batch-max-wait=" + DynamicAuditBatchWait.String(), "--feature-gates=DynamicAuditing=true"}
}

// enableDynamicAudit sets the same switches on in-process options. The
// feature gate is the process's (a global flag the server's flag set does
// not have): it is turned on for every server here, which changes nothing
// for those without the other two switches.
func enableDynamicAudit(o *server.Options) error {
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{string(server.DynamicAuditing): true}); err != nil {
		return fmt.Errorf("harness: feature gate DynamicAuditing: %w", err)
	}
	o.DynamicAudit.Enabled = true
	o.APIEnablement.RuntimeConfig[server.AuditRegistrationGroupVersion] = "true"
	o.DynamicAudit.BatchMaxWait = DynamicAuditBatchWait
	return nil
}

// AuditSinks is a client of the server's AuditSinks, as the admin.
func (s *Server) AuditSinks() (*auditsinks.Client, error) {
	return auditsinks.NewForConfig(s.RESTConfig())
}

// NewAuditSink is an AuditSink sending to receiver (started by
// StartTLSReceiver, which gave ca) the stages asked for at level; with no
// stages, all four.
func NewAuditSink(name string, receiver *sink.Sink, ca []byte, level auditreg.Level, stages ...auditreg.Stage) *auditreg.AuditSink {
	if len(stages) == 0 {
		stages = []auditreg.Stage{auditreg.StageRequestReceived, auditreg.StageResponseStarted, auditreg.StageResponseComplete, auditreg.StagePanic}
	}
	url := receiver.URL() + "/audit"
	return &auditreg.AuditSink{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: auditreg.AuditSinkSpec{
			Policy:  auditreg.Policy{Level: level, Stages: stages},
			Webhook: auditreg.Webhook{ClientConfig: auditreg.WebhookClientConfig{URL: &url, CABundle: ca}},
		},
	}
}

// WaitForAuditSink returns once receiver gets events from the server: it
// asks for a pod that does not exist, under a new name each time, until the
// receiver has that request's events (the sink's informer and its first
// batch take a moment after the AuditSink is created). The probes are GETs
// of /api/v1/namespaces/default/pods/audit-sink-probe-N.
func (s *Server) WaitForAuditSink(ctx context.Context, receiver *sink.Sink) error {
	client, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for i := 0; ; i++ {
		name := fmt.Sprintf("audit-sink-probe-%d-%d", time.Now().UnixNano(), i)
		if _, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("audit sink probe: %w", err)
		}
		uri := "/api/v1/namespaces/default/pods/" + name
		wait, stop := context.WithTimeout(ctx, time.Second+DynamicAuditBatchWait)
		err := receiver.WaitFor(wait, func(evs []auditv1.Event) bool {
			return slices.ContainsFunc(evs, func(e auditv1.Event) bool { return e.RequestURI == uri })
		})
		stop()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("audit sink at %s received nothing within a minute", receiver.URL())
		}
	}
}
