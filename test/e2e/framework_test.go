// Package e2e drives the built mini-apiserver binary with the real kubectl,
// client-go and etcd. `make test` builds the binaries and points the tests
// at them with MINI_APISERVER_BIN, KUBECTL_BIN and ETCD_BIN.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var serverBin, sinkBin, auditctlBin, kubectlBin, etcdBin string

func TestMain(m *testing.M) {
	serverBin = binary("MINI_APISERVER_BIN", "mini-apiserver")
	sinkBin = binary("AUDIT_SINK_BIN", "audit-sink")
	auditctlBin = binary("AUDITCTL_BIN", "auditctl")
	kubectlBin = binary("KUBECTL_BIN", "kubectl")
	etcdBin = binary("ETCD_BIN", "etcd")
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

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// apiServer is one running mini-apiserver process.
type apiServer struct {
	t          *testing.T
	DataDir    string
	Port       int
	Kubeconfig string
	Stdout     *syncBuffer
	Stderr     *syncBuffer
	cmd        *exec.Cmd
	exited     chan struct{}
	exitErr    error
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts the binary with a fresh data dir (unless args name one)
// and a free port, and waits until /readyz answers 200.
func startServer(t *testing.T, args ...string) *apiServer {
	t.Helper()
	dataDir := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
			dataDir = v
		}
	}
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "data")
		args = append(args, "--data-dir="+dataDir)
	}
	var s *apiServer
	for attempt := 0; attempt < 3; attempt++ {
		s = launch(t, dataDir, freePort(t), args)
		err := s.waitReady(90 * time.Second)
		if err == nil {
			return s
		}
		if strings.Contains(s.Stderr.String(), "address already in use") {
			continue // another process took the port between probe and bind
		}
		t.Fatalf("mini-apiserver did not become ready: %v\nstderr:\n%s", err, s.Stderr.String())
	}
	t.Fatalf("mini-apiserver could not bind a port:\n%s", s.Stderr.String())
	return nil
}

func launch(t *testing.T, dataDir string, port int, args []string) *apiServer {
	t.Helper()
	s := &apiServer{
		t: t, DataDir: dataDir, Port: port,
		Kubeconfig: filepath.Join(dataDir, "admin.kubeconfig"),
		Stdout:     &syncBuffer{}, Stderr: &syncBuffer{},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(serverBin, append([]string{fmt.Sprintf("--secure-port=%d", port)}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.Stdout, s.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *apiServer) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-s.exited:
			return false, fmt.Errorf("exited: %v", s.exitErr)
		default:
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
		if err != nil {
			lastErr = err
			return false, nil
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return false, err
		}
		var code int
		client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
		lastErr = fmt.Errorf("/readyz answered %d", code)
		return code == http.StatusOK, nil
	})
	if err != nil && lastErr != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (last: %v)", err, lastErr)
	}
	return err
}

// Stop sends SIGTERM and waits for the process to exit.
func (s *apiServer) Stop() error {
	select {
	case <-s.exited:
		return s.exitErr
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("mini-apiserver did not stop within 60s of SIGTERM")
	}
	return s.exitErr
}

func (s *apiServer) RESTConfig() *rest.Config {
	s.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		s.t.Fatal(err)
	}
	// Load tests must measure the server, not client-go's default 5 QPS limit.
	cfg.QPS, cfg.Burst = 1000, 1000
	return cfg
}

func (s *apiServer) Client() *kubernetes.Clientset {
	s.t.Helper()
	c, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// kubectlResult is the outcome of one kubectl run.
type kubectlResult struct {
	Stdout, Stderr string
	Err            error
}

// Kubectl runs bin/kubectl against the server with extra environment env
// (KEY=VALUE) and stdin.
func (s *apiServer) KubectlEnv(env []string, stdin string, args ...string) kubectlResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig=" + s.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return kubectlResult{Stdout: out.String(), Stderr: errOut.String(), Err: err}
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

// eventually polls cond every 20ms until it returns true or the deadline.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		lastErr = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// runStdout runs mini-apiserver with args that make it exit, returning stdout.
func runStdout(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(serverBin, args...).Output()
	if err != nil {
		t.Fatalf("mini-apiserver %v: %v", args, err)
	}
	return string(out)
}

func ptrTo[T any](v T) *T { return &v }
