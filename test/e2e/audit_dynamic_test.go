package e2e

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// An AuditSink created with kubectl receives, from then on, what its own
// policy asks for, over HTTPS with its caBundle; the static log keeps
// exactly what --audit-policy-file says; a deleted sink stops.
func TestDynamicAuditSink(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("receiver-ca")
	mustDo(t, err)
	serving, err := pki.NewSigned(ca, pki.ServingTemplate("receiver", nil, []net.IP{net.ParseIP("127.0.0.1")}))
	mustDo(t, err)
	cert, err := serving.TLSCertificate()
	mustDo(t, err)
	receiver, err := sink.Start(sink.Options{TLS: sink.ClientCATLS(cert, nil)})
	mustDo(t, err)
	t.Cleanup(func() { receiver.Close() })

	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServerOpts(t, harness.Options{DynamicAudit: true, Flags: []string{
		"--audit-policy-file=" + writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)), "--audit-log-path=" + log}})
	manifest := `apiVersion: auditregistration.k8s.io/v1alpha1
kind: AuditSink
metadata: {name: everything}
spec:
  policy: {level: RequestResponse, stages: [RequestReceived, ResponseStarted, ResponseComplete, Panic]}
  webhook:
    throttle: {qps: 10}
    clientConfig: {url: "` + receiver.URL() + `/audit", caBundle: ` + b64(ca.CertPEM) + `}
`
	pods := s.Client().CoreV1().Pods("default")
	// The same request before any sink exists, for the static log to compare.
	if _, err := pods.Create(context.Background(), newPod("default", "before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.KubectlEnv(nil, manifest, "apply", "-f", "-")
	if out := s.Kubectl("get", "auditsinks"); !regexpMatch(`^NAME\s+AGE\neverything\s+\d+s\n$`, out) {
		t.Errorf("kubectl get auditsinks:\n%s", out)
	}
	if out := s.Kubectl("get", "auditsink", "everything", "-o", "jsonpath={.spec.webhook.throttle.burst} {.metadata.generation}"); out != "15 1" {
		t.Errorf("defaulted burst and generation: %q", out)
	}
	eventually(t, waitShort, "the sink to run", func() (bool, error) {
		return strings.Contains(s.Stderr(), `"Audit sink running" sink="everything"`), nil
	})
	if _, err := pods.Create(context.Background(), newPod("default", "seen"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	err = receiver.WaitFor(ctx, func(evs []auditv1.Event) bool {
		n := 0
		for _, e := range evs {
			// RequestReceived comes before the body is read; the final
			// stage has both bodies.
			if e.Verb == "create" && e.RequestURI == "/api/v1/namespaces/default/pods" && e.Level == auditv1.LevelRequestResponse &&
				(e.Stage == auditv1.StageRequestReceived || e.RequestObject != nil && e.ResponseObject != nil) {
				n++
			}
		}
		return n == 2
	})
	if err != nil {
		for _, e := range receiver.Events() {
			t.Logf("received %s %s %s %s request=%v response=%v", e.Stage, e.Level, e.Verb, e.RequestURI, e.RequestObject != nil, e.ResponseObject != nil)
		}
		t.Fatal(err)
	}
	// The static log: the pod's events at Metadata, as the policy file says.
	waitForEvents(t, logReader(log), []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageRequestReceived, Verb: "create", RequestURI: "/api/v1/namespaces/default/pods",
			User: "kubernetes-admin", Resource: "pods", Namespace: "default"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", RequestURI: "/api/v1/namespaces/default/pods", Code: 201,
			User: "kubernetes-admin", Resource: "pods", Namespace: "default", Name: "seen", AuthorizeDecision: "allow"},
	})
	logged, err := expect.ReadFile(log)
	mustDo(t, err)
	for _, e := range logged {
		if e.Level != auditv1.LevelMetadata || e.RequestObject != nil || e.ResponseObject != nil || e.ObjectRef == nil || e.ObjectRef.Resource != "pods" {
			t.Errorf("the static log got an event its policy does not ask for: %s %s %s level %s", e.Verb, e.RequestURI, e.Stage, e.Level)
		}
	}
	// Same request without and with a sink: the same static events.
	static := map[string][]string{}
	for _, e := range logged {
		if e.Verb == "create" {
			sum := expect.Summarize(&e)
			sum.Annotations, sum.Name = nil, ""
			static[string(e.AuditID)] = append(static[string(e.AuditID)], sum.String())
		}
	}
	var shapes []string
	for _, evs := range static {
		shapes = append(shapes, strings.Join(evs, " / "))
	}
	if len(shapes) != 2 || shapes[0] != shapes[1] {
		t.Errorf("the static log differs with a sink:\n%s", strings.Join(shapes, "\n"))
	}

	s.Kubectl("delete", "auditsink", "everything")
	eventually(t, waitShort, "the sink to be removed", func() (bool, error) {
		return strings.Contains(s.Stderr(), `"Audit sink removed" sink="everything"`), nil
	})
}

// The switches: the flag without the gate fails with upstream's message;
// the API is not served unless all three are on.
func TestDynamicAuditSwitches(t *testing.T) {
	t.Parallel()
	code, out := runBinary(t, 20*time.Second, "--audit-dynamic-configuration", "--data-dir="+t.TempDir())
	if code == 0 || !strings.Contains(out, "--audit-dynamic-configuration set, but DynamicAuditing feature gate is not enabled") {
		t.Errorf("flag without the gate: exit %d\n%s", code, out)
	}
	code, out = runBinary(t, 20*time.Second, "--audit-dynamic-configuration", "--feature-gates=DynamicAuditing=true", "--data-dir="+t.TempDir())
	if code == 0 || !strings.Contains(out, "add --runtime-config=auditregistration.k8s.io/v1alpha1=true") {
		t.Errorf("flag and gate without the API: exit %d\n%s", code, out)
	}
	code, out = runBinary(t, 20*time.Second, "--audit-dynamic-batch-max-wait=0s", "--data-dir="+t.TempDir())
	if code == 0 || !strings.Contains(out, "--audit-dynamic-batch-max-wait=0s: must be greater than 0") {
		t.Errorf("zero batch wait: exit %d\n%s", code, out)
	}
	s := startServer(t, "--runtime-config=auditregistration.k8s.io/v1alpha1=true")
	if r := s.KubectlEnv(nil, "", "get", "auditsinks"); r.Err == nil || !strings.Contains(r.Stderr, `the server doesn't have a resource type "auditsinks"`) {
		t.Errorf("AuditSinks served without --audit-dynamic-configuration: %v %s", r.Err, r.Stderr)
	}
}

// Every validation rule of upstream v1.18, with its message, as kubectl
// prints it; a plain http URL is accepted with a warning.
func TestDynamicAuditSinkValidation(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{DynamicAudit: true})
	const good = `{"level": "Metadata", "stages": ["ResponseComplete"]}`
	const url = `{"url": "https://127.0.0.1:9443/audit"}`
	manifest := func(policy, webhook string) string {
		return `{"apiVersion": "auditregistration.k8s.io/v1alpha1", "kind": "AuditSink", "metadata": {"name": "bad"},
			"spec": {"policy": ` + policy + `, "webhook": ` + webhook + `}}`
	}
	for _, tc := range []struct {
		name, policy, webhook, want string
	}{
		{"level missing", `{"stages": ["ResponseComplete"]}`, `{"clientConfig": ` + url + `}`, `spec.policy.level: Required value`},
		{"level unknown", `{"level": "Everything", "stages": ["ResponseComplete"]}`, `{"clientConfig": ` + url + `}`,
			`spec.policy.level: Unsupported value: "Everything": supported values: "Metadata", "None", "Request", "RequestResponse"`},
		{"stage unknown", `{"level": "Metadata", "stages": ["Sometimes"]}`, `{"clientConfig": ` + url + `}`,
			`spec.policy.stages[0]: Invalid value: "Sometimes": allowed stages are Panic,RequestReceived,ResponseComplete,ResponseStarted`},
		{"no stages", `{"level": "Metadata"}`, `{"clientConfig": ` + url + `}`, `spec.policy.stages: Required value`},
		{"qps zero", good, `{"throttle": {"qps": 0}, "clientConfig": ` + url + `}`,
			`spec.webhook.throttle.qps: Invalid value: 0: qps must be a positive number`},
		{"burst negative", good, `{"throttle": {"burst": -1}, "clientConfig": ` + url + `}`,
			`spec.webhook.throttle.burst: Invalid value: -1: burst must be a positive number`},
		{"no target", good, `{"clientConfig": {}}`, `spec.webhook.clientConfig: Required value: exactly one of url or service is required`},
		{"two targets", good, `{"clientConfig": {"url": "https://127.0.0.1/audit", "service": {"namespace": "audit", "name": "sink"}}}`,
			`spec.webhook.clientConfig: Required value: exactly one of url or service is required`},
		{"url scheme", good, `{"clientConfig": {"url": "ftp://127.0.0.1/audit"}}`,
			`spec.webhook.clientConfig.url: Unsupported value: "ftp": supported values: "http", "https"`},
		{"url host", good, `{"clientConfig": {"url": "https:///audit"}}`,
			`spec.webhook.clientConfig.url: Invalid value: "": host must be specified; desired format: https://host[/path]`},
		{"url query", good, `{"clientConfig": {"url": "https://127.0.0.1/audit?a=b"}}`,
			`spec.webhook.clientConfig.url: Invalid value: "a=b": query parameters are not permitted in the URL`},
		{"url with user", good, `{"clientConfig": {"url": "https://user:pw@127.0.0.1/audit"}}`,
			`spec.webhook.clientConfig.url: Invalid value: "user:pw": user information is not permitted in the URL`},
		{"service namespace", good, `{"clientConfig": {"service": {"name": "sink"}}}`,
			`spec.webhook.clientConfig.service.namespace: Required value`},
		{"service port", good, `{"clientConfig": {"service": {"namespace": "audit", "name": "sink", "port": 70000}}}`,
			`spec.webhook.clientConfig.service.port: Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive`},
		{"caBundle", good, `{"clientConfig": {"url": "https://127.0.0.1/audit", "caBundle": "bm90IGEgY2VydA=="}}`,
			`spec.webhook.clientConfig.caBundle: Invalid value: "<bytes>": must be PEM-encoded certificates`},
	} {
		r := s.KubectlEnv(nil, manifest(tc.policy, tc.webhook), "create", "-f", "-")
		if r.Err == nil || !strings.Contains(r.Stderr, `The AuditSink "bad" is invalid: `) || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: err %v\n%s\nwant %q", tc.name, r.Err, r.Stderr, tc.want)
		}
	}
	r := s.KubectlEnv(nil, manifest(good, `{"clientConfig": {"url": "http://audit.example.com/audit"}}`), "create", "-f", "-")
	if out := s.Kubectl("get", "auditsinks", "-o", "name"); out != "auditsink.auditregistration.k8s.io/bad\n" {
		t.Errorf("AuditSinks after the invalid ones and the plain http one: %q", out)
	}
	if r.Err != nil || !strings.Contains(r.Stderr, "Warning: ") || !strings.Contains(r.Stderr, "unencrypted") {
		t.Errorf("plain http: err %v\n%s", r.Err, r.Stderr)
	}
	// Updates need a resourceVersion; generation moves only with the spec.
	s.Kubectl("label", "auditsink", "bad", "team=audit")
	if out := s.Kubectl("get", "auditsink", "bad", "-o", "jsonpath={.metadata.generation}"); out != "1" {
		t.Errorf("generation after a label: %s", out)
	}
	s.Kubectl("patch", "auditsink", "bad", "--type=merge", "-p", `{"spec": {"policy": {"level": "Request"}}}`)
	if out := s.Kubectl("get", "auditsink", "bad", "-o", "jsonpath={.metadata.generation}"); out != "2" {
		t.Errorf("generation after a spec change: %s", out)
	}
	// kubectl replace fills resourceVersion in; a client that does not is
	// refused.
	current, err := auditSinks(t, s).Get(context.Background(), "bad")
	mustDo(t, err)
	current.ResourceVersion = ""
	if _, err := auditSinks(t, s).Update(context.Background(), current); err == nil ||
		!strings.Contains(err.Error(), "metadata.resourceVersion: Invalid value: 0: must be specified for an update") {
		t.Errorf("update without resourceVersion: %v", err)
	}
}
