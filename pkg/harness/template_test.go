package harness

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Servers started on copies of the template have what a new data directory
// gets by the time Start returns (no write of a controller left to wait
// for), a root CA that verifies the server they run on, and data of their
// own.
func TestServersFromTheTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var clients []kubernetes.Interface
	for i := 0; i < 2; i++ {
		srv, err := Start(ctx, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop() })
		client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
		clients = append(clients, client)
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
				t.Errorf("server %d: namespace %s's default ServiceAccount at Start: %v", i, ns, err)
			}
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil {
				t.Errorf("server %d: namespace %s's kube-root-ca.crt at Start: %v", i, ns, err)
				continue
			}
			block, _ := pem.Decode([]byte(cm.Data["ca.crt"]))
			if block == nil {
				t.Fatalf("server %d: kube-root-ca.crt in %s holds no PEM", i, ns)
			}
			ca, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if trusted, _ := pem.Decode(srv.RESTConfig().CAData); trusted == nil || !slices.Equal(trusted.Bytes, ca.Raw) {
				t.Errorf("server %d: kube-root-ca.crt in %s is not the CA its clients trust", i, ns)
			}
		}
		admin, err := client.RbacV1().ClusterRoles().Get(ctx, "admin", metav1.GetOptions{})
		if err != nil || len(admin.Rules) == 0 {
			t.Errorf("server %d: the aggregated admin ClusterRole at Start: %d rules, %v", i, len(admin.Rules), err)
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "only-on-the-first"}}
	if _, err := clients[0].CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[1].CoreV1().ConfigMaps("default").Get(ctx, cm.Name, metav1.GetOptions{}); err == nil {
		t.Error("a ConfigMap created on one server is on the other: their data is shared")
	}
}

// The flags that change nothing stored share a template; those that may
// (the storage prefix, feature gates) make one of their own.
func TestTemplateFlags(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--audit-policy-file=/p.yaml", "--audit-log-path=/a.log", "--secure-port=7443", "--data-dir=/d",
			"--shutdown-watch-termination-grace-period=1s", "--enable-admission-plugins=AlwaysPullImages", "--token-auth-file=/t.csv"}, nil},
		{[]string{"--etcd-prefix=/other", "--audit-log-maxsize=5", "--authorization-mode=RBAC"},
			[]string{"--authorization-mode=[RBAC]", "--etcd-prefix=/other"}},
	} {
		_, fs, err := parseFlags(tc.flags, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := templateFlags(fs); !slices.Equal(got, tc.want) {
			t.Errorf("templateFlags(%q) = %q, want %q", tc.flags, got, tc.want)
		}
	}
}

// A server whose flags change what is stored starts on a template made
// with them: under another etcd prefix, the bootstrap is there too.
func TestTemplateOfOtherFlags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := Start(ctx, Options{Flags: []string{"--etcd-prefix=/elsewhere"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	if _, err := client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("kube-system's default ServiceAccount at Start: %v", err)
	}
}
