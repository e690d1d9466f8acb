package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/internal/golden"
	"github.com/mini-apiserver/mini-apiserver/internal/kubeapiserver"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// TestGoldenAuditTrail runs the golden scenario (internal/golden: every
// resource of the core API, their subresources and bad input) against
// mini-apiserver and compares its audit trail, event by event, with the one
// `make golden` recorded on kube-apiserver v1.37.2 with the same policy,
// client and credential (testdata/golden-kube-apiserver.jsonl): equal
// but for IDs, times, resource versions and addresses.
func TestGoldenAuditTrail(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("testdata/golden-kube-apiserver.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := kubeapiserver.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	log := dir + "/audit.log"
	s := startServer(t, "--token-auth-file="+kubeapiserver.TokenFile(dir), "--audit-policy-file="+writePolicy(t, golden.Policy),
		"--audit-log-path="+log, "--audit-log-mode=blocking")
	cfg := &rest.Config{Host: s.URL(), BearerToken: kubeapiserver.AdminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	if err := golden.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	// The last response can reach the client before its ResponseComplete
	// event reaches the log: wait for as many events as kube's trail has.
	var got []string
	eventually(t, waitLong, "the scenario's events in the log", func() (bool, error) {
		events, err := expect.ReadFile(log)
		if err != nil {
			return false, err
		}
		got, err = golden.Normalize(events, kubeapiserver.AdminUser)
		return len(got) >= len(wantLines), err
	})
	for i := 0; i < max(len(got), len(wantLines)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Errorf("event %d of %d (kube-apiserver's %d) differs:\n mini: %s\n kube: %s", i+1, len(got), len(wantLines), g, w)
		}
	}
}
