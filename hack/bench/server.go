package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// server is a mini-apiserver binary started by the harness, with the
// load generator's client.
type server struct {
	*harness.Server
	client *kubernetes.Clientset
}

// start runs the binary on dataDir and returns once /readyz is 200, with
// the time from exec to that first 200.
func start(dataDir string, args ...string) (*server, time.Duration) {
	return startEnv(nil, dataDir, args...)
}

// startEnv is start with env added to the server's environment.
func startEnv(env []string, dataDir string, args ...string) (*server, time.Duration) {
	t0 := time.Now()
	h, err := harness.Start(context.Background(), harness.Options{
		Binary: filepath.Join(*binDir, "mini-apiserver"), Env: env, DataDir: dataDir, Flags: args, ReadyTimeout: 60 * time.Second,
	})
	check(err)
	ready := time.Since(t0)
	client, err := loadgen.Client(h.RESTConfig())
	check(err)
	return &server{Server: h, client: client}, ready
}

func (s *server) stop() { _ = s.Stop() }

func ensureNS(c kubernetes.Interface, ns string) {
	_, _ = c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
}

// ensurePodNamespace makes ns ready for pods on either server: with its
// default service account, which admission wants for a pod and which
// kube-apiserver without kube-controller-manager does not make.
func ensurePodNamespace(c kubernetes.Interface, ns string) {
	ensureNS(c, ns)
	_, _ = c.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
}

// variant is a server configuration compared with others.
type variant struct {
	name      string
	env, args []string
	// user, when set, is who the load generator is (a client certificate
	// of the server's client CA) instead of the admin; setup runs first,
	// as the admin.
	user  string
	setup func(s *server)
}

// startLoaded starts a server with namespace "load" holding the pool of 100
// pods the load generator works on.
func startLoaded(dataDir string, v variant) *server {
	s, _ := startEnv(v.env, dataDir, v.args...)
	ensureNS(s.client, "load")
	check(loadgen.EnsurePool(context.Background(), s.client, "load", 100, *objectSize))
	if v.setup != nil {
		v.setup(s)
	}
	if v.user != "" {
		ca, err := pki.LoadCA(filepath.Join(dataDir, "pki"), "client-ca")
		check(err)
		cred, err := pki.NewSigned(ca, pki.ClientTemplate(v.user))
		check(err)
		cfg := rest.CopyConfig(s.RESTConfig())
		cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = cred.CertPEM, cred.KeyPEM
		cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.KeyFile = "", ""
		s.client, err = loadgen.Client(cfg)
		check(err)
	}
	return s
}

func policyFile(work, level string) string {
	p := filepath.Join(work, "policy-"+level+".yaml")
	check(os.WriteFile(p, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: "+level+"\n"), 0o600))
	return p
}

func webhookKubeconfig(work string, snk *sink.Sink) string {
	wh := filepath.Join(work, "webhook-"+strings.ReplaceAll(snk.Addr(), ":", "-")+".kubeconfig")
	check(harness.WriteWebhookKubeconfig(wh, snk.URL()+"/audit", harness.WebhookClient{}))
	return wh
}

// metrics reads samples of the server's /metrics in one fetch, 0 for an
// absent one.
func (s *server) metrics(samples ...string) []float64 {
	m, err := harness.ReadMetrics(context.Background(), s.client)
	check(err)
	values := make([]float64, len(samples))
	for i, sample := range samples {
		values[i] = m.Value(sample)
	}
	return values
}

func (s *server) metric(sample string) float64 { return s.metrics(sample)[0] }

// auditCounts are the server's counts of audit events generated, dropped
// (buffer full) and failed (delivery).
type auditCounts struct{ generated, dropped, failed float64 }

func (s *server) auditCounts() auditCounts {
	v := s.metrics("apiserver_audit_event_total", `apiserver_audit_error_total{plugin="buffered"}`, `apiserver_audit_error_total{plugin="webhook"}`)
	return auditCounts{v[0], v[1], v[2]}
}

// delivered counts the events the sink acknowledged, and those acknowledged
// since t.
func delivered(snk *sink.Sink, since time.Time) (all, after int) {
	for _, a := range snk.Attempts() {
		if a.Status == http.StatusOK {
			all += a.Events
			if !a.Time.Before(since) {
				after += a.Events
			}
		}
	}
	return all, after
}
