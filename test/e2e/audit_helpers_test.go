package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/auth"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
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
	ca, err := auth.LoadOrCreateCA(filepath.Join(s.DataDir, "pki"), "client-ca", "unused")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := auth.NewSigned(ca, auth.ClientTemplate(user, groups...))
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

// metric returns the value of a sample of /metrics, e.g.
// metric(t, s, `apiserver_audit_event_total`) or
// metric(t, s, `apiserver_audit_level_total{level="Metadata"}`); 0 if absent.
func metric(t *testing.T, s *apiServer, sample string) float64 {
	t.Helper()
	body, err := s.Client().Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || name != sample {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", line, err)
		}
		return v
	}
	return 0
}

// fileMode returns a path's permission bits.
func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func restTransport(cfg *rest.Config) (http.RoundTripper, error) { return rest.TransportFor(cfg) }
