// Package kubeapiserver runs kube-apiserver (built by `make kube-apiserver`)
// on its own etcd, as a control plane runs them, for what is measured or
// recorded side by side with mini-apiserver: make bench and make golden.
package kubeapiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// AdminToken is an admin's bearer token (system:masters) of the servers
// compared, EditorToken a user's with no groups; both are in TokenFile.
const (
	AdminToken  = "bench-admin-token"
	EditorToken = "bench-editor-token"
	// AdminUser is AdminToken's user name.
	AdminUser = "bench-admin"
)

// TokenFile is the --token-auth-file that WriteFiles writes into dir, for
// kube-apiserver and for the mini-apiserver it is compared with.
func TokenFile(dir string) string { return filepath.Join(dir, "tokens.csv") }

// WriteFiles writes what kube-apiserver needs and does not generate: the
// service account key pair and TokenFile. An existing set is kept.
func WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "sa.key")); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		"sa.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		"sa.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(AdminToken + "," + AdminUser + "," + AdminUser + ",system:masters\n" +
			EditorToken + ",bench-editor,bench-editor\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Args are the flags kube-apiserver cannot start without here, on loopback
// port with the files of WriteFiles in dir (one token file and one pair of
// service-account keys: several servers on one etcd share them) and its
// generated serving certificate in certDir. Add --etcd-servers.
func Args(dir, certDir string, port int) []string {
	return []string{"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port), "--cert-dir=" + certDir,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"), "--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--token-auth-file=" + TokenFile(dir), "--service-cluster-ip-range=10.96.0.0/12",
		// A loopback advertise address is refused by the endpoint reconciler.
		"--endpoint-reconciler-type=none"}
}

// Options say which binaries to run where.
type Options struct {
	// Binary is kube-apiserver; EtcdBinary the etcd it runs on.
	Binary, EtcdBinary string
	// Dir holds etcd's data, the generated serving certificate and the
	// files of WriteFiles (written if missing).
	Dir string
	// Args are more kube-apiserver flags (audit, authorization).
	Args []string
}

// Server is a running kube-apiserver with its etcd.
type Server struct {
	Etcd *harness.Etcd
	Cmd  *exec.Cmd
	Logs *proc.SyncBuffer
	Port int
	// Ready is the time from etcd's exec to kube-apiserver's first
	// /readyz 200; EtcdReady the part of it etcd took to serve.
	Ready, EtcdReady time.Duration
	done             chan struct{}
}

// Start starts etcd and then kube-apiserver on it, and returns once
// /readyz answers 200 (within two minutes).
func Start(o Options) (*Server, error) {
	if err := WriteFiles(o.Dir); err != nil {
		return nil, err
	}
	t0 := time.Now()
	etcd, err := harness.StartEtcd(context.Background(), harness.EtcdOptions{Binary: o.EtcdBinary, DataDir: filepath.Join(o.Dir, "etcd")})
	if err != nil {
		return nil, err
	}
	s := &Server{Etcd: etcd, Logs: &proc.SyncBuffer{}, done: make(chan struct{}), EtcdReady: time.Since(t0)}
	if s.Port, err = proc.FreePort(); err != nil {
		etcd.Stop()
		return nil, err
	}
	s.Cmd = exec.Command(o.Binary, append(append(Args(o.Dir, filepath.Join(o.Dir, "certs"), s.Port), "--etcd-servers="+etcd.URL(), "-v=0"), o.Args...)...)
	s.Cmd.Stdout, s.Cmd.Stderr = s.Logs, s.Logs
	if err := s.Cmd.Start(); err != nil {
		etcd.Stop()
		return nil, err
	}
	go func() { _ = s.Cmd.Wait(); close(s.done) }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-s.done:
			s.Stop()
			return nil, fmt.Errorf("kube-apiserver exited while starting:\n%s", tail(s.Logs.String(), 2000))
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+AdminToken)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				s.Ready = time.Since(t0)
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("kube-apiserver not ready after 2 minutes:\n" + tail(s.Logs.String(), 2000))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// URL is kube-apiserver's address.
func (s *Server) URL() string { return fmt.Sprintf("https://127.0.0.1:%d", s.Port) }

// Stop stops kube-apiserver (SIGTERM, SIGKILL after 30 s) and its etcd.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-s.done
	}
	s.Etcd.Stop()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
