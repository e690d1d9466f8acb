// Package e2e drives the built mini-apiserver binary with the real kubectl,
// client-go and etcd. `make test` builds the binaries and points the tests
// at them with MINI_APISERVER_BIN, KUBECTL_BIN and ETCD_BIN. Servers and
// etcd are started by pkg/harness, the one way to start them.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

var serverBin, sinkBin, auditctlBin, kubectlBin, etcdBin, victoriaLogsBin string

func TestMain(m *testing.M) {
	serverBin = binary("MINI_APISERVER_BIN", "mini-apiserver")
	sinkBin = binary("AUDIT_SINK_BIN", "audit-sink")
	auditctlBin = binary("AUDITCTL_BIN", "auditctl")
	kubectlBin = binary("KUBECTL_BIN", "kubectl")
	etcdBin = binary("ETCD_BIN", "etcd")
	victoriaLogsBin = binary("VICTORIALOGS_BIN", "victoria-logs")
	os.Exit(m.Run())
}

func binary(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "..", "bin", name))
	if _, err := os.Stat(p); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %s not found (set %s or run `make test`, which builds it)\n", p, env)
		os.Exit(1)
	}
	return p
}

// apiServer is one running mini-apiserver process, with the test's helpers.
type apiServer struct {
	*harness.Server
	t *testing.T
}

// startServer starts the binary with args, a fresh data dir (unless args
// name one) and a free port, waits until it is ready and stops it when the
// test ends.
func startServer(t *testing.T, args ...string) *apiServer {
	t.Helper()
	return startServerOpts(t, harness.Options{Flags: args})
}

// startServerOpts is startServer with every harness option.
func startServerOpts(t *testing.T, opts harness.Options) *apiServer {
	t.Helper()
	opts.Binary = serverBin
	if opts.DataDir == "" && !hasFlag(opts.Flags, "--data-dir") {
		opts.DataDir = filepath.Join(t.TempDir(), "data")
	}
	s, err := harness.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A test may have killed it; only a server that ignores SIGTERM fails.
		if err := s.Stop(); err != nil && strings.Contains(err.Error(), "did not stop") {
			t.Error(err)
		}
	})
	return &apiServer{Server: s, t: t}
}

func hasFlag(flags []string, name string) bool {
	for _, f := range flags {
		if f == name || strings.HasPrefix(f, name+"=") {
			return true
		}
	}
	return false
}

// Client is an admin client-go clientset.
func (s *apiServer) Client() *kubernetes.Clientset {
	s.t.Helper()
	c, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// metric is one sample of the server's /metrics, e.g.
// metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`); 0 if absent.
func metric(t *testing.T, s *apiServer, selector string) float64 {
	t.Helper()
	m, err := s.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m.Value(selector)
}

// kubectlResult is the outcome of one kubectl run.
type kubectlResult struct {
	Stdout, Stderr string
	Err            error
}

// runKubectl runs bin/kubectl with kubeconfig, extra environment env
// (KEY=VALUE) and stdin.
func runKubectl(t *testing.T, kubeconfig string, env []string, stdin string, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return kubectlResult{Stdout: out.String(), Stderr: errOut.String(), Err: err}
}

// KubectlEnv runs kubectl as the admin with extra environment and stdin.
func (s *apiServer) KubectlEnv(env []string, stdin string, args ...string) kubectlResult {
	s.t.Helper()
	return runKubectl(s.t, s.Kubeconfig(), env, stdin, args...)
}

// Kubectl runs kubectl and fails the test if it fails.
func (s *apiServer) Kubectl(args ...string) string {
	s.t.Helper()
	r := s.KubectlEnv(nil, "", args...)
	if r.Err != nil {
		s.t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// KubectlFail runs kubectl, expects it to fail and returns its stderr.
func (s *apiServer) KubectlFail(stdin string, args ...string) string {
	s.t.Helper()
	r := s.KubectlEnv(nil, stdin, args...)
	if r.Err == nil {
		s.t.Fatalf("kubectl %s succeeded, want failure\nstdout: %s", strings.Join(args, " "), r.Stdout)
	}
	return r.Stderr
}

// startEtcd runs bin/etcd on loopback until the test ends.
func startEtcd(t *testing.T) *harness.Etcd {
	t.Helper()
	e, err := harness.StartEtcd(context.Background(), harness.EtcdOptions{Binary: etcdBin, DataDir: filepath.Join(t.TempDir(), "etcd")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Kill)
	return e
}

// freePort is proc.FreePort for a test.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// runBinary runs mini-apiserver expecting it to exit by itself within the
// timeout, and returns its exit code and stderr.
func runBinary(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mini-apiserver %v did not exit within %s\nstderr:\n%s", args, timeout, stderr.String())
	}
	if exitErr, ok := err.(*exec.ExitError); ok {
		return exitErr.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// runStdout runs mini-apiserver with args that make it exit, returning stdout.
func runStdout(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(serverBin, args...).Output()
	if err != nil {
		t.Fatalf("mini-apiserver %v: %v", args, err)
	}
	return string(out)
}
