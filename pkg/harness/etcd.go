package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	etcdtransport "go.etcd.io/etcd/client/pkg/v3/transport"
	"k8s.io/apimachinery/pkg/util/wait"
)

// EtcdOptions configure a real etcd member run from its binary.
type EtcdOptions struct {
	// Binary is the etcd executable (make tools builds bin/etcd).
	Binary string
	// DataDir holds the member's data; Restart keeps it.
	DataDir string
	// UnixSocket, when set, also serves clients on unix://UnixSocket.
	UnixSocket string
	// ReadyTimeout bounds StartEtcd and Restart; default 60s.
	ReadyTimeout time.Duration
	// TLS, when set, serves clients over HTTPS and requires a client
	// certificate signed by its CA, as kubeadm's etcd does.
	TLS *EtcdTLS
}

// EtcdTLS are the files of an etcd that requires client certificates:
// its serving certificate, the CA clients' certificates must chain to, and
// a client certificate the harness checks readiness with.
type EtcdTLS struct {
	CertFile, KeyFile, TrustedCAFile string
	ClientCertFile, ClientKeyFile    string
}

// Etcd is a running etcd member on loopback.
type Etcd struct {
	opts      EtcdOptions
	clientURL string
	peerURL   string
	// name and initialCluster are the member's in its cluster: "harness"
	// and itself alone for StartEtcd.
	name, initialCluster string
	cmd                  *exec.Cmd
	logs                 *proc.SyncBuffer
	finished             chan struct{}
}

// StartEtcd starts a single-member etcd on free loopback ports and returns
// once it serves a read.
func StartEtcd(ctx context.Context, opts EtcdOptions) (*Etcd, error) {
	e, err := newEtcdMember(opts, "harness", false)
	if err != nil {
		return nil, err
	}
	e.initialCluster = e.name + "=" + e.peerURL
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// newEtcdMember is a member on free loopback ports, not started; with TLS
// and peerTLS its peers talk mutual TLS too (a single member has none).
func newEtcdMember(opts EtcdOptions, name string, peerTLS bool) (*Etcd, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	clientPort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	scheme, peerScheme := "http", "http"
	if opts.TLS != nil {
		scheme = "https"
		if peerTLS {
			peerScheme = "https"
		}
	}
	return &Etcd{opts: opts, name: name, clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPort),
		peerURL: fmt.Sprintf("%s://127.0.0.1:%d", peerScheme, peerPort)}, nil
}

func (e *Etcd) start(ctx context.Context) error {
	listen := e.clientURL
	if e.opts.UnixSocket != "" {
		listen += ",unix://" + e.opts.UnixSocket
	}
	e.logs, e.finished = &proc.SyncBuffer{}, make(chan struct{})
	args := []string{"--name=" + e.name, "--data-dir=" + filepath.Clean(e.opts.DataDir),
		"--listen-client-urls=" + listen, "--advertise-client-urls=" + e.clientURL,
		"--listen-peer-urls=" + e.peerURL, "--initial-advertise-peer-urls=" + e.peerURL,
		"--initial-cluster=" + e.initialCluster, "--initial-cluster-token=harness", "--log-level=error"}
	if t := e.opts.TLS; t != nil {
		args = append(args, "--client-cert-auth", "--cert-file="+t.CertFile, "--key-file="+t.KeyFile, "--trusted-ca-file="+t.TrustedCAFile)
		if strings.HasPrefix(e.peerURL, "https:") {
			// The serving certificate is also the member's client one.
			args = append(args, "--peer-client-cert-auth", "--peer-cert-file="+t.CertFile, "--peer-key-file="+t.KeyFile, "--peer-trusted-ca-file="+t.TrustedCAFile)
		}
	}
	e.cmd = exec.Command(e.opts.Binary, args...)
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("etcd %s: %w", e.name, err)
	}
	finished := e.finished
	go func() { _ = e.cmd.Wait(); close(finished) }()
	if err := e.waitServing(ctx); err != nil {
		e.Kill()
		return err
	}
	return nil
}

// waitServing polls the member's /health (a quorum read, answered once it
// serves) every 5 ms over plain HTTP(S): a gRPC client would wait out its
// reconnect backoff (a second) after the first refused dial.
func (e *Etcd) waitServing(ctx context.Context) error {
	transport := &http.Transport{}
	if t := e.opts.TLS; t != nil {
		tlsConfig, err := (etcdtransport.TLSInfo{CertFile: t.ClientCertFile, KeyFile: t.ClientKeyFile, TrustedCAFile: t.TrustedCAFile}).ClientConfig()
		if err != nil {
			return fmt.Errorf("etcd client TLS: %w", err)
		}
		transport.TLSClientConfig = tlsConfig
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: time.Second}
	ctx, cancel := context.WithTimeout(ctx, e.opts.ReadyTimeout)
	defer cancel()
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-e.finished:
			return false, fmt.Errorf("etcd %s exited while starting:\n%s", e.name, e.logs.String())
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.clientURL+"/health", nil)
		if err != nil {
			return false, err
		}
		res, err := client.Do(req)
		if err != nil {
			lastErr = err
			return false, nil
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		lastErr = fmt.Errorf("/health: %d %s", res.StatusCode, body)
		return res.StatusCode == http.StatusOK, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("etcd %s not serving after %s: %v\n%s", e.name, e.opts.ReadyTimeout, lastErr, e.logs.String())
	}
	return err
}

// URL is the member's client URL (http://127.0.0.1:port).
func (e *Etcd) URL() string { return e.clientURL }

// Logs is what etcd has logged (errors only).
func (e *Etcd) Logs() string { return e.logs.String() }

// Kill ends the member at once, as a crash would.
func (e *Etcd) Kill() {
	_ = e.cmd.Process.Kill()
	<-e.finished
}

// Stop ends the member gracefully.
func (e *Etcd) Stop() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.finished:
	case <-time.After(stopTimeout):
		e.Kill()
	}
}

// Restart starts the member again on the same data and ports, after Kill
// or Stop.
func (e *Etcd) Restart(ctx context.Context) error {
	select {
	case <-e.finished:
	default:
		return fmt.Errorf("etcd: Restart while running")
	}
	return e.start(ctx)
}

// Name is the member's name in its cluster.
func (e *Etcd) Name() string { return e.name }

// Running says whether the member's process is running.
func (e *Etcd) Running() bool {
	select {
	case <-e.finished:
		return false
	default:
		return true
	}
}

// PID is the member's process ID.
func (e *Etcd) PID() int { return e.cmd.Process.Pid }
