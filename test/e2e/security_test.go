package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/kubeconfig"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// listeningPorts returns the TCP ports a process listens on, from /proc.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot read the process's descriptors: %v", err)
	}
	for _, fd := range fds {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			_, portHex, _ := strings.Cut(fields[1], ":")
			port, _ := strconv.ParseInt(portHex, 16, 32)
			ports = append(ports, int(port))
		}
		f.Close()
	}
	return ports
}

func TestSecurityNoPlaintextPort(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ports := listeningPorts(t, s.PID())
	if len(ports) < 2 {
		t.Fatalf("listening ports %v: want the API port and the embedded etcd's", ports)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	insecureTLS := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, port := range ports {
		resp, err := plain.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(body), "Client sent an HTTP request to an HTTPS server") {
				t.Errorf("port %d answers plain HTTP: %d %s", port, resp.StatusCode, body)
			}
		}
		// TLS without credentials: the API answers 401; etcd refuses the handshake.
		resp, err = insecureTLS.Get(fmt.Sprintf("https://127.0.0.1:%d/version", port))
		switch {
		case port == s.Port():
			if err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("API port without credentials: %v %v", err, resp)
			}
		case err == nil:
			body, _ := io.ReadAll(resp.Body)
			t.Errorf("port %d served a request without a client certificate: %d %s", port, resp.StatusCode, body)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

func TestSecurityFileModes(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	checks := map[string]os.FileMode{s.DataDir(): 0o700, filepath.Join(s.DataDir(), "pki"): 0o700, filepath.Join(s.DataDir(), "etcd"): 0o700, s.Kubeconfig(): 0o600}
	keys, _ := filepath.Glob(filepath.Join(s.DataDir(), "pki", "*.key"))
	if len(keys) < 6 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		checks[k] = 0o600
	}
	for path, mode := range checks {
		if got := fileMode(t, path); got != mode {
			t.Errorf("%s has mode %o, want %o", path, got, mode)
		}
	}
}

func TestSecurityNoCredentialsInAuditOrLogs(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--token-auth-file="+writeFile(t, "tokens.csv", "s3cr3t-t0ken-value,alice,uid-alice\n"),
		"--audit-policy-file="+writePolicy(t, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"),
		"--audit-log-path="+log, "-v=4")
	cfg := rest.CopyConfig(s.RESTConfig())
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData, cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.KeyFile = nil, nil, "", ""
	cfg.BearerToken = "s3cr3t-t0ken-value"
	alice := clientFor(t, writeKubeconfigFromRest(t, cfg))
	ctx := context.Background()
	alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	wrong := rest.CopyConfig(cfg)
	wrong.BearerToken = "wr0ng-t0ken-value"
	clientFor(t, writeKubeconfigFromRest(t, wrong)).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	s.Kubectl("get", "pods")
	s.Kubectl("auth", "whoami")
	waitForEvents(t, logReader(log), nil)
	adminKey, err := os.ReadFile(filepath.Join(s.DataDir(), "pki", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(adminKey), "\n")[1]
	eventually(t, 30*time.Second, "the audit log to hold alice's request", func() (bool, error) {
		data, err := os.ReadFile(log)
		return strings.Contains(string(data), `"username":"alice"`), err
	})
	auditLog, _ := os.ReadFile(log)
	for name, text := range map[string]string{"audit log": string(auditLog), "server log": s.Stderr() + s.Stdout()} {
		for _, secret := range []string{"s3cr3t-t0ken-value", "wr0ng-t0ken-value", "Bearer ", "PRIVATE KEY", keyBody} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %q", name, secret)
			}
		}
	}
}

func writeKubeconfigFromRest(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.kubeconfig")
	if err := kubeconfig.Write(path, kubeconfig.FromREST("c", cfg)); err != nil {
		t.Fatal(err)
	}
	return path
}

// The webhook client trusts only the CA of its kubeconfig.
func TestSecurityWebhookVerifiesTheSink(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	other, err := pki.NewCA("someone-else")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := harness.WriteWebhookKubeconfig(cfg, snk.URL()+"/audit", harness.WebhookClient{CAData: other.CertPEM}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+cfg, "--audit-webhook-mode=blocking", "--audit-webhook-initial-backoff=10ms")
	if _, err := s.Client().CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "webhook failures to be counted", func() (bool, error) {
		return metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`) >= 2, nil
	})
	if n := len(snk.Events()); n != 0 {
		t.Errorf("the sink received %d events over a connection the kubeconfig's CA does not trust", n)
	}
	if !strings.Contains(s.Stderr(), "certificate signed by unknown authority") {
		t.Errorf("the TLS failure is not logged")
	}
}

// A non-admin gets nothing ABAC forbids, by any verb, subresource,
// impersonation or watch.
func TestSecurityForbiddenByEveryPath(t *testing.T) {
	t.Parallel()
	s := startIdentityServer(t)
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		createNamespace(t, s.Client(), ns)
		if _, err := s.Client().CoreV1().Pods(ns).Create(ctx, newPod(ns, "p"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	alice := clientFor(t, s.kubeconfigFor(t, "alice", "alice-token", nil))
	podsA, podsB := alice.CoreV1().Pods("team-a"), alice.CoreV1().Pods("team-b")
	pod, err := podsA.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("alice may read team-a: %v", err)
	}
	cases := map[string]func() error{
		"get in team-b":           func() error { _, err := podsB.Get(ctx, "p", metav1.GetOptions{}); return err },
		"list in team-b":          func() error { _, err := podsB.List(ctx, metav1.ListOptions{}); return err },
		"watch in team-b":         func() error { _, err := podsB.Watch(ctx, metav1.ListOptions{}); return err },
		"list across namespaces":  func() error { _, err := alice.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); return err },
		"watch across namespaces": func() error { _, err := alice.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{}); return err },
		"create in team-a":        func() error { _, err := podsA.Create(ctx, newPod("team-a", "q"), metav1.CreateOptions{}); return err },
		"update in team-a":        func() error { _, err := podsA.Update(ctx, pod, metav1.UpdateOptions{}); return err },
		"update status in team-a": func() error { _, err := podsA.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); return err },
		"patch in team-a": func() error {
			_, err := podsA.Patch(ctx, "p", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
			return err
		},
		"delete in team-a":           func() error { return podsA.Delete(ctx, "p", metav1.DeleteOptions{}) },
		"deletecollection in team-a": func() error { return podsA.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}) },
		"get a namespace": func() error {
			_, err := alice.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{})
			return err
		},
		"create a namespace": func() error {
			_, err := alice.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
			return err
		},
		"impersonate an admin": func() error {
			cfg, _ := restConfigFor(t, s.kubeconfigFor(t, "alice2", "alice-token", nil))
			cfg.Impersonate = rest.ImpersonationConfig{UserName: "kubernetes-admin", Groups: []string{"system:masters"}}
			_, err := clientForConfig(t, cfg).CoreV1().Pods("team-b").List(ctx, metav1.ListOptions{})
			return err
		},
	}
	for name, call := range cases {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want 403", name, err)
		}
	}
	if _, err := s.Client().CoreV1().Pods("team-a").Get(ctx, "p", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod alice may not delete is gone: %v", err)
	}
}
