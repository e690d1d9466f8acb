package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// --encryption-provider-config (the library's encryptionconfig): secrets
// are stored encrypted by the first provider, read back through any, and
// what the config does not name stays kube protobuf in clear. Proven with a
// raw read of etcd.
func TestEncryptionAtRest(t *testing.T) {
	t.Parallel()
	etcdURL := startEtcd(t).URL()
	raw, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	stored := func(key string) []byte {
		t.Helper()
		resp, err := raw.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("etcd key %s: %v %v", key, err, resp)
		}
		return resp.Kvs[0].Value
	}
	const key32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes, base64
	for _, provider := range []string{"aescbc", "aesgcm", "secretbox"} {
		t.Run(provider, func(t *testing.T) {
			config := writeFile(t, "encryption.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - `+provider+`:
      keys:
      - name: key1
        secret: `+key32+`
  - identity: {}
`)
			s := startServer(t, "--etcd-servers="+etcdURL, "--etcd-prefix=/"+provider, "--encryption-provider-config="+config)
			client := s.Client().CoreV1()
			if _, err := client.Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
				StringData: map[string]string{"password": "plaintext-password"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := client.ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
				Data: map[string]string{"mode": "plaintext-mode"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			secret := stored("/" + provider + "/secrets/default/db")
			if prefix := "k8s:enc:" + provider + ":v1:key1:"; !bytes.HasPrefix(secret, []byte(prefix)) {
				t.Errorf("secret stored as %q..., want the prefix %q", secret[:min(32, len(secret))], prefix)
			}
			if bytes.Contains(secret, []byte("plaintext-password")) {
				t.Error("the secret's data is in etcd in clear")
			}
			cm := stored("/" + provider + "/configmaps/default/cfg")
			if !bytes.HasPrefix(cm, []byte("k8s\x00")) || !bytes.Contains(cm, []byte("plaintext-mode")) {
				t.Errorf("configmap (not in the config) stored as %q", cm[:min(32, len(cm))])
			}
			got, err := client.Secrets("default").Get(ctx, "db", metav1.GetOptions{})
			if err != nil || string(got.Data["password"]) != "plaintext-password" {
				t.Errorf("read back: %v %q", err, got.Data)
			}
		})
	}

	t.Run("a bad config fails start-up naming the file", func(t *testing.T) {
		config := writeFile(t, "bad-encryption.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - name: key1
        secret: dG9vIHNob3J0
`)
		code, out := runBinary(t, 30*time.Second, "--data-dir="+t.TempDir(), "--etcd-servers="+etcdURL, "--encryption-provider-config="+config)
		if code == 0 || !strings.Contains(out, "--encryption-provider-config "+config) || !strings.Contains(out, "aescbc.keys[0].secret") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
}
