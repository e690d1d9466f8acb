package harness_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

const webhookFile = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: stamp
webhooks:
- name: stamp.example.com
  clientConfig:
    service: {name: webhook-service, namespace: system, path: /mutate}
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-webhook
`

// Webhook configurations from a file, as a controller's project keeps them
// (clientConfig.service), are installed before Start returns and reach the
// test's own server at LocalServingHost:LocalServingPort with the
// certificate in LocalServingCertDir.
func TestHarnessInstallsWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(file, []byte(webhookFile), 0o600); err != nil {
		t.Fatal(err)
	}
	hooks := &harness.WebhookInstallOptions{Paths: []string{file}}
	srv, err := harness.Start(ctx, harness.Options{Webhooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	installed, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "stamp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cc := installed.Webhooks[0].ClientConfig
	want := "https://127.0.0.1:" + strconv.Itoa(hooks.LocalServingPort) + "/mutate"
	if cc.Service != nil || cc.URL == nil || *cc.URL != want || string(cc.CABundle) != string(hooks.LocalServingCAData) {
		t.Fatalf("installed clientConfig %+v, want url %s and the serving CA", cc, want)
	}

	// The test's webhook server, started after the server as a manager would.
	cert, err := tls.LoadX509KeyPair(filepath.Join(hooks.LocalServingCertDir, "tls.crt"), filepath.Join(hooks.LocalServingCertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", net.JoinHostPort(hooks.LocalServingHost, strconv.Itoa(hooks.LocalServingPort)), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mutate", harness.AdmissionReviewHandler(func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch),
			Patch: []byte(`[{"op":"add","path":"/metadata/labels","value":{"stamped":"yes"}}]`)}
	}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	defer hs.Close()

	i := 0
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		i++
		cm, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c" + strconv.Itoa(i)}}, metav1.CreateOptions{})
		return err == nil && cm.Labels["stamped"] == "yes", nil
	})
	if err != nil {
		t.Fatalf("the installed webhook never mutated a configmap: %v", err)
	}
}

// A file that does not parse, or a configuration the server refuses, fails
// Start naming the file and document, or the configuration.
func TestHarnessWebhookErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte(webhookFile+"---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: x}\nwebhooks: [{name: x.example.com, timeoutSecond: 3}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := harness.Start(context.Background(), harness.Options{Webhooks: &harness.WebhookInstallOptions{Paths: []string{broken}}})
	if err == nil || !strings.Contains(err.Error(), broken+", document 3 (ValidatingWebhookConfiguration)") || !strings.Contains(err.Error(), `unknown field "timeoutSecond"`) {
		t.Errorf("misspelt field: %v", err)
	}
	refused := filepath.Join(dir, "refused.yaml")
	if err := os.WriteFile(refused, []byte(strings.Replace(webhookFile, "sideEffects: None", "sideEffects: Some", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = harness.Start(context.Background(), harness.Options{Webhooks: &harness.WebhookInstallOptions{Paths: []string{refused}}})
	if err == nil || !strings.Contains(err.Error(), `webhooks: MutatingWebhookConfiguration "stamp"`) ||
		!strings.Contains(err.Error(), `webhooks[0].sideEffects: Unsupported value: "Some"`) {
		t.Errorf("refused configuration: %v", err)
	}
}
