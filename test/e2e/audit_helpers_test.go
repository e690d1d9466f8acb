package e2e

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

func writePolicy(t *testing.T, policy string) string {
	t.Helper()
	return writeFile(t, "policy.yaml", policy)
}

// auditSink is an HTTPS sink and the kubeconfig-format webhook
// configuration that reaches it.
type auditSink struct {
	*sink.Sink
	Config string
}

// startSink starts an HTTPS audit sink with its own CA. With clientCert the
// sink requires a client certificate, which the configuration carries.
func startSink(t *testing.T, clientCert bool) *auditSink {
	t.Helper()
	s, cfg, err := harness.StartTLSSink(t.TempDir(), clientCert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &auditSink{Sink: s, Config: cfg}
}

// waitForEvents polls read until every expectation is met.
func waitForEvents(t *testing.T, read func() ([]auditv1.Event, error), want []expect.Event) []auditv1.Event {
	t.Helper()
	var events []auditv1.Event
	var report expect.Report
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		events, err = read()
		if err != nil {
			t.Fatal(err)
		}
		report = expect.Check(events, want)
		if report.OK() {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %s", report)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logReader(path string) func() ([]auditv1.Event, error) {
	return func() ([]auditv1.Event, error) { return expect.ReadFile(path) }
}

func sinkReader(s *sink.Sink) func() ([]auditv1.Event, error) {
	return func() ([]auditv1.Event, error) { return s.Events(), nil }
}

// userClient is a client authenticated by a client certificate for user and
// groups, signed by the server's generated client CA.
func userClient(t *testing.T, s *apiServer, user string, groups ...string) *kubernetes.Clientset {
	t.Helper()
	ca, err := pki.LoadCA(filepath.Join(s.DataDir(), "pki"), "client-ca")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pki.NewSigned(ca, pki.ClientTemplate(user, groups...))
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(s.RESTConfig())
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = cred.CertPEM, cred.KeyPEM
	cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.KeyFile = "", ""
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func restTransport(cfg *rest.Config) (http.RoundTripper, error) { return rest.TransportFor(cfg) }
