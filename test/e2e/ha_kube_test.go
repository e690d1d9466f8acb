package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/internal/kubeapiserver"
	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// TestHighAvailabilityKubeAPIServer runs TestHighAvailability's faults and
// checks (all but our identity flag's) on two kube-apiservers, to show the
// test asks nothing of ours that kube-apiserver does not do. It needs
// KUBE_APISERVER_BIN (make kube-apiserver builds it into
// ~/.cache/mini-apiserver); make test does not run it.
func TestHighAvailabilityKubeAPIServer(t *testing.T) {
	bin := os.Getenv("KUBE_APISERVER_BIN")
	if bin == "" {
		t.Skip("set KUBE_APISERVER_BIN to a kube-apiserver (make kube-apiserver) to run the HA test on it")
	}
	t.Parallel()
	runHighAvailability(t, func(t *testing.T, cluster *harness.EtcdCluster) (haServer, haServer, *rest.Config) {
		dir := t.TempDir()
		mustDo(t, kubeapiserver.WriteFiles(dir))
		policy := filepath.Join(dir, "policy.yaml")
		mustDo(t, os.WriteFile(policy, []byte(haPolicy), 0o600))
		a, b := startKubeHA(t, bin, dir, "a", policy, cluster), startKubeHA(t, bin, dir, "b", policy, cluster)
		return a, b, &rest.Config{Host: a.URL(), BearerToken: kubeapiserver.AdminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	}, 1)
}

// kubeHA is a kube-apiserver process of the HA test, restarted with the
// same flags.
type kubeHA struct {
	bin  string
	args []string
	port int
	log  string

	cmd  *exec.Cmd
	logs *proc.SyncBuffer
	done chan struct{}
	err  error
}

func startKubeHA(t *testing.T, bin, dir, name, policy string, cluster *harness.EtcdCluster) *kubeHA {
	t.Helper()
	k := &kubeHA{bin: bin, port: freePort(t), log: filepath.Join(dir, name, "audit.log")}
	k.args = append(append(append(kubeapiserver.Args(dir, filepath.Join(dir, name, "certs"), k.port), cluster.ServerFlags()...),
		"--audit-policy-file="+policy, "--audit-log-path="+k.log), haShutdownFlags...)
	mustDo(t, k.Restart(context.Background()))
	t.Cleanup(func() {
		if k.running() {
			_ = k.cmd.Process.Signal(syscall.SIGTERM)
			<-k.done
		}
	})
	return k
}

func (k *kubeHA) running() bool {
	select {
	case <-k.done:
		return false
	default:
		return k.cmd != nil
	}
}

func (k *kubeHA) Restart(ctx context.Context) error {
	if k.running() {
		_ = k.cmd.Process.Signal(syscall.SIGTERM)
		<-k.done
	}
	k.logs, k.done = &proc.SyncBuffer{}, make(chan struct{})
	k.cmd = exec.Command(k.bin, k.args...)
	k.cmd.Stdout, k.cmd.Stderr = k.logs, k.logs
	if err := k.cmd.Start(); err != nil {
		return err
	}
	cmd, done := k.cmd, k.done
	go func() { k.err = cmd.Wait(); close(done) }()
	return wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-done:
			return false, fmt.Errorf("kube-apiserver exited while starting:\n%s", k.logs.String())
		default:
		}
		return k.ReadyStatus(ctx) == http.StatusOK, nil
	})
}

func (k *kubeHA) URL() string                           { return fmt.Sprintf("https://127.0.0.1:%d", k.port) }
func (k *kubeHA) Signal(sig os.Signal) error            { return k.cmd.Process.Signal(sig) }
func (k *kubeHA) Done() <-chan struct{}                 { return k.done }
func (k *kubeHA) AuditLog() string                      { return k.log }
func (k *kubeHA) Stderr() string                        { return k.logs.String() }
func (k *kubeHA) AuditEvents() ([]auditv1.Event, error) { return expect.ReadFile(k.log) }

// Err is how the process ended, once Done is closed.
func (k *kubeHA) Err() error {
	<-k.done
	return k.err
}

func (k *kubeHA) ReadyStatus(ctx context.Context) int {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL()+"/readyz", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+kubeapiserver.AdminToken)
	res, err := client.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
