package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// smallFS mounts a 1 MiB tmpfs for the audit log, or skips where the machine
// does not allow mounting (it needs root).
func smallFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s); the disk-full test needs root", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill takes every free byte of the file system holding dir.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for { // the last partial block
		if _, err := f.Write(chunk[:1]); err != nil {
			break
		}
	}
	return path
}

func TestFaultAuditDiskFull(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"blocking", "blocking-strict"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := smallFS(t)
			log := filepath.Join(dir, "audit.log")
			s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
				"--audit-log-path="+log, "--audit-log-maxsize=0", "--audit-log-mode="+mode)
			pods := s.Client().CoreV1().Pods("default")
			ctx := context.Background()
			filler := fill(t, dir)
			errorsBefore := metric(t, s, `apiserver_audit_error_total{plugin="log"}`)

			_, err := pods.Create(ctx, newPod("default", "while-full"), metav1.CreateOptions{})
			switch mode {
			case "blocking":
				if err != nil {
					t.Fatalf("blocking mode must keep serving with a full disk: %v", err)
				}
				if got := metric(t, s, `apiserver_audit_error_total{plugin="log"}`) - errorsBefore; got < 2 {
					t.Errorf("apiserver_audit_error_total{plugin=\"log\"} moved by %v, want the 2 lost events counted", got)
				}
				if !strings.Contains(s.Stderr(), "no space left on device") {
					t.Errorf("the write errors were not logged")
				}
			case "blocking-strict":
				if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "failed to store audit event") {
					t.Fatalf("blocking-strict with a full disk: %v, want 500 failed to store audit event", err)
				}
			}

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("after-%s", mode)
			if _, err := pods.Create(ctx, newPod("default", name), metav1.CreateOptions{}); err != nil {
				t.Fatalf("after space returned: %v", err)
			}
			want := []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create",
				RequestURI: "/api/v1/namespaces/default/pods", Code: 201, User: "kubernetes-admin", Resource: "pods",
				Namespace: "default", Name: name, AuthorizeDecision: "allow"}}
			waitForEvents(t, logReader(log), want)
			if mode == "blocking-strict" {
				if _, err := pods.Get(ctx, "while-full", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("the refused pod was stored: %v", err)
				}
			}
		})
	}
}
