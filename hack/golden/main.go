// Command golden records the audit trail of the golden scenario
// (internal/golden) on kube-apiserver: `make golden` writes it to
// test/e2e/testdata/golden-kube-apiserver.jsonl, which the e2e test
// TestGoldenAuditTrail compares mini-apiserver's trail with.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/internal/golden"
	"github.com/mini-apiserver/mini-apiserver/internal/kubeapiserver"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

func main() {
	kubeBin := flag.String("kube-apiserver", "", "kube-apiserver binary (make kube-apiserver)")
	etcdBin := flag.String("etcd", "bin/etcd", "etcd binary (make tools)")
	out := flag.String("out", "test/e2e/testdata/golden-kube-apiserver.jsonl", "where the normalized trail goes")
	flag.Parse()
	if err := record(*kubeBin, *etcdBin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "golden:", err)
		os.Exit(1)
	}
}

func record(kubeBin, etcdBin, out string) error {
	dir, err := os.MkdirTemp("", "golden-kube-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	policy, log := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(golden.Policy), 0o600); err != nil {
		return err
	}
	k, err := kubeapiserver.Start(kubeapiserver.Options{Binary: kubeBin, EtcdBinary: etcdBin, Dir: dir, Args: []string{
		"--audit-policy-file=" + policy, "--audit-log-path=" + log, "--audit-log-mode=blocking",
	}})
	if err != nil {
		return err
	}
	runErr := golden.Run(context.Background(), &rest.Config{Host: k.URL(), BearerToken: kubeapiserver.AdminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	k.Stop()
	if runErr != nil {
		return runErr
	}
	events, err := expect.ReadFile(log)
	if err != nil {
		return err
	}
	lines, err := golden.Normalize(events, kubeapiserver.AdminUser)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("golden: %d events of kube-apiserver (%s) written to %s\n", len(lines), filepath.Base(kubeBin), out)
	return nil
}
