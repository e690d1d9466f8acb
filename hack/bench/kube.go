package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

var kubeBin = flag.String("kube-apiserver", "", "a kube-apiserver binary (make kube-apiserver) measured side by side with etcd from -bin; empty: mini-apiserver alone")

// kubeToken is the admin's bearer token of the kube-apiserver under test.
const kubeToken = "bench-admin-token"

// kube is kube-apiserver with its etcd, as a control plane runs them.
type kube struct {
	etcd *harness.Etcd
	cmd  *exec.Cmd
	logs *harness.SyncBuffer
	done chan struct{}
	port int
}

// haveKube says whether kube-apiserver is there to compare with.
func haveKube() bool {
	if *kubeBin == "" {
		return false
	}
	_, err := os.Stat(*kubeBin)
	return err == nil
}

// kubeFiles writes what kube-apiserver needs and does not generate: the
// service account key pair and a token file with an admin.
func kubeFiles(dir string) {
	check(os.MkdirAll(dir, 0o700))
	if _, err := os.Stat(filepath.Join(dir, "sa.key")); err == nil {
		return
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	der, err := x509.MarshalECPrivateKey(key)
	check(err)
	check(os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	check(err)
	check(os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600))
	check(os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(kubeToken+",bench-admin,bench-admin,system:masters\n"), 0o600))
}

// startKube starts etcd on dir/etcd and then kube-apiserver on it (its
// serving certificate generated into dir/certs the first time), and returns
// once /readyz answers 200, with the time from etcd's exec to that 200 and
// the part of it etcd took to serve.
func startKube(dir string, args ...string) (*kube, time.Duration, time.Duration) {
	kubeFiles(dir)
	t0 := time.Now()
	etcd, err := harness.StartEtcd(context.Background(), harness.EtcdOptions{Binary: filepath.Join(*binDir, "etcd"), DataDir: filepath.Join(dir, "etcd")})
	check(err)
	etcdReady := time.Since(t0)
	port, err := harness.FreePort()
	check(err)
	k := &kube{etcd: etcd, port: port, logs: &harness.SyncBuffer{}, done: make(chan struct{})}
	k.cmd = exec.Command(*kubeBin, append([]string{"--etcd-servers=" + etcd.URL(), "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port), "--cert-dir=" + filepath.Join(dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"), "--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"), "--service-cluster-ip-range=10.96.0.0/12",
		// A loopback advertise address is refused by the endpoint reconciler.
		"--endpoint-reconciler-type=none", "-v=0"}, args...)...)
	k.cmd.Stdout, k.cmd.Stderr = k.logs, k.logs
	check(k.cmd.Start())
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-k.done:
			k.stop()
			check(fmt.Errorf("kube-apiserver exited while starting:\n%s", tail(k.logs.String(), 2000)))
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/readyz", port), nil)
		req.Header.Set("Authorization", "Bearer "+kubeToken)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return k, time.Since(t0), etcdReady
			}
		}
		if time.Now().After(deadline) {
			k.stop()
			check(errors.New("kube-apiserver not ready after 2 minutes:\n" + tail(k.logs.String(), 2000)))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rss is kube-apiserver's and etcd's resident memory together.
func (k *kube) rss() float64 { return rssMiB(k.cmd.Process.Pid) + rssMiB(k.etcd.PID()) }

func (k *kube) stop() {
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
	k.etcd.Stop()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
