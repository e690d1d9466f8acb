package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// The audit-sink binary collects a real server's events into one file per
// user, and its control API injects failures.
func TestAuditSinkBinary(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "events")
	port, controlPort := freePort(t), freePort(t)
	cmd := exec.Command(sinkBin, fmt.Sprintf("--listen=127.0.0.1:%d", port), fmt.Sprintf("--control-listen=127.0.0.1:%d", controlPort),
		"--output-dir="+out, "--per-user")
	logs := &proc.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, 30*time.Second, "audit-sink to listen", func() (bool, error) {
		return strings.Contains(logs.String(), "control API on"), nil
	})

	webhookConfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := harness.WriteWebhookKubeconfig(webhookConfig, fmt.Sprintf("http://127.0.0.1:%d/audit", port), harness.WebhookClient{}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+webhookConfig, "--audit-webhook-mode=blocking", "--audit-webhook-initial-backoff=50ms")

	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/fail?count=1&status=503", controlPort), "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("control /fail: %v %v", resp, err)
	}
	s.Kubectl("get", "pods")
	userClientAlice := userClient(t, s, "alice")
	if _, err := userClientAlice.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	wantAdmin := []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "list", RequestURI: "/api/v1/namespaces/default/pods?limit=500",
		Code: 200, User: "kubernetes-admin", Resource: "pods", Namespace: "default", AuthorizeDecision: "allow"}}
	waitForEvents(t, logReader(filepath.Join(out, "kubernetes-admin.log")), wantAdmin)
	eventually(t, 30*time.Second, "alice.log", func() (bool, error) {
		events, err := expect.ReadFile(filepath.Join(out, "alice.log"))
		return len(events) == 2, err
	})
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/attempts", controlPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var attempts []struct{ Status int }
	if err := json.NewDecoder(resp.Body).Decode(&attempts); err != nil || len(attempts) < 2 || attempts[0].Status != 503 || attempts[1].Status != 200 {
		t.Errorf("attempts %+v (%v): want the injected 503, then a successful retry", attempts, err)
	}
	if files, _ := os.ReadDir(out); len(files) != 2 {
		t.Errorf("files %v, want kubernetes-admin.log and alice.log", files)
	}
}
