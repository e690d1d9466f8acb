package e2e

import (
	"context"
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
)

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx := context.Background()

	t.Run("invalid pod lists every field error", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"},
			Spec: corev1.PodSpec{
				RestartPolicy: "Sometimes",
				Containers: []corev1.Container{
					{Name: "c"},
					{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 70000}}},
				},
			},
		}
		_, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("want 422 Invalid, got %v", err)
		}
		status := err.(apierrors.APIStatus).Status()
		if status.Code != http.StatusUnprocessableEntity || status.Details.Kind != "Pod" || status.Details.Name != "Bad_Name" {
			t.Errorf("status %+v", status)
		}
		got := map[string]metav1.CauseType{}
		for _, c := range status.Details.Causes {
			got[c.Field] = c.Type
		}
		want := map[string]metav1.CauseType{
			"metadata.name":                             metav1.CauseTypeFieldValueInvalid,
			"spec.containers[0].image":                  metav1.CauseTypeFieldValueRequired,
			"spec.containers[1].name":                   metav1.CauseTypeFieldValueDuplicate,
			"spec.containers[1].ports[0].containerPort": metav1.CauseTypeFieldValueInvalid,
			"spec.restartPolicy":                        metav1.CauseTypeFieldValueNotSupported,
		}
		for field, typ := range want {
			if got[field] != typ {
				t.Errorf("cause %s: got %q, want %q (all: %v)", field, got[field], typ, got)
			}
		}
		for _, msg := range []string{
			`Pod "Bad_Name" is invalid: [`,
			`spec.containers[0].image: Required value`,
			`spec.containers[1].name: Duplicate value: "c"`,
			`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
			`spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		} {
			if !strings.Contains(status.Message, msg) {
				t.Errorf("message lacks %q:\n%s", msg, status.Message)
			}
		}
	})

	t.Run("pod without containers", func(t *testing.T) {
		pod := newPod("default", "empty")
		pod.Spec.Containers = nil
		_, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Pod "empty" is invalid: spec.containers: Required value`)
	})

	t.Run("malformed JSON", func(t *testing.T) {
		var code int
		err := client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").
			SetHeader("Content-Type", "application/json").Body([]byte(`{"apiVersion":"v1","kind":"Pod",`)).Do(ctx).StatusCode(&code).Error()
		if code != http.StatusBadRequest || err == nil {
			t.Errorf("got %d %v, want 400", code, err)
		}
	})

	t.Run("malformed YAML", func(t *testing.T) {
		stderr := s.KubectlFail("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n", "create", "-f", "-")
		if !strings.Contains(stderr, "error converting YAML to JSON") {
			t.Errorf("stderr: %s", stderr)
		}
	})

	t.Run("unknown field with strict validation", func(t *testing.T) {
		manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: strict\nspec:\n  containerz: []\n  containers:\n  - name: c\n    image: nginx\n"
		stderr := s.KubectlFail(manifest, "create", "--validate=strict", "-f", "-")
		if !strings.Contains(stderr, `strict decoding error: unknown field "spec.containerz"`) {
			t.Errorf("stderr: %s", stderr)
		}
		// The same through the API: fieldValidation=Strict is a 400.
		_, err := client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Param("fieldValidation", "Strict").
			SetHeader("Content-Type", "application/json").
			Body([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"strict"},"spec":{"bogus":1,"containers":[{"name":"c","image":"nginx"}]}}`)).
			Do(ctx).Get()
		wantStatus(t, err, http.StatusBadRequest, `Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.bogus"`)
	})

	t.Run("immutable field update", func(t *testing.T) {
		if _, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", "fixed"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := client.CoreV1().Pods("default").Patch(ctx, "fixed", types.MergePatchType, []byte(`{"spec":{"restartPolicy":"Never"}}`), metav1.PatchOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(),
			"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)") {
			t.Errorf("got %v", err)
		}
		_, err = client.CoreV1().Pods("default").Patch(ctx, "fixed", types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/containers/-","value":{"name":"d","image":"nginx"}}]`), metav1.PatchOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Pod "fixed" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers`)
		// status is only written through /status.
		pod, err := client.CoreV1().Pods("default").Get(ctx, "fixed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Status.Phase = corev1.PodRunning
		if pod, err = client.CoreV1().Pods("default").Update(ctx, pod, metav1.UpdateOptions{}); err != nil || pod.Status.Phase != corev1.PodPending {
			t.Errorf("status changed through the main resource: %v %v", pod.Status.Phase, err)
		}
		pod.Status.Phase = corev1.PodRunning
		if pod, err = client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil || pod.Status.Phase != corev1.PodRunning {
			t.Errorf("status through /status: %v %v", pod.Status.Phase, err)
		}
		if pod.Generation != 1 {
			t.Errorf("generation %d after status-only writes, want 1", pod.Generation)
		}
	})

	t.Run("resourceVersion conflict", func(t *testing.T) {
		pod, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", "rv"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stale := pod.DeepCopy()
		pod.Labels = map[string]string{"a": "1"}
		if _, err := client.CoreV1().Pods("default").Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		stale.Labels = map[string]string{"a": "2"}
		_, err = client.CoreV1().Pods("default").Update(ctx, stale, metav1.UpdateOptions{})
		wantStatus(t, err, http.StatusConflict, `Operation cannot be fulfilled on pods "rv": the object has been modified; please apply your changes to the latest version and try again`)
	})
}

func TestBadFlagsAndStartFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badTokens := filepath.Join(dir, "tokens.csv")
	badABAC := filepath.Join(dir, "abac.jsonl")
	garbageCA := filepath.Join(dir, "ca.crt")
	badWebhookYAML := filepath.Join(dir, "webhook-bad.yaml")
	emptyWebhook := filepath.Join(dir, "webhook-empty.yaml")
	for path, content := range map[string]string{
		badWebhookYAML: "not: [yaml",
		emptyWebhook:   "apiVersion: v1\nkind: Config\nclusters: []\n",
		badTokens:      "t1,alice,uid1\nt2,bob\n",
		badABAC:        "# ok\n{\"apiVersion\": \"abac.authorization.kubernetes.io/v1beta1\", \"kind\": \"Policy\", \"spec\": {\"user\": \"a\"}}\n{\"user\": \"b\",\n",
		garbageCA:      "not a certificate\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	busy := startServer(t)

	cases := []struct {
		name    string
		args    []string
		timeout time.Duration
		stderr  string
	}{
		{"unknown flag", []string{"--no-such-flag"}, 10 * time.Second, "unknown flag: --no-such-flag"},
		{"bad port value", []string{"--secure-port=https"}, 10 * time.Second, `invalid argument "https" for "--secure-port" flag`},
		{"port out of range", []string{"--secure-port=70000"}, 10 * time.Second, "--secure-port 70000 must be between 1 and 65535, inclusive"},
		{"port zero", []string{"--secure-port=0"}, 10 * time.Second, "--secure-port 0 must be between 1 and 65535, inclusive. It cannot be turned off with 0"},
		{"bad bind address", []string{"--bind-address=not-an-ip"}, 10 * time.Second, `invalid argument "not-an-ip" for "--bind-address" flag`},
		{"unsupported authorization mode", []string{"--authorization-mode=Node,Rbac"}, 10 * time.Second,
			`--authorization-mode: unsupported authorization mode "Rbac"; supported modes: AlwaysAllow,AlwaysDeny,ABAC,RBAC,Node`},
		{"authorization webhook", []string{"--authorization-mode=Node,Webhook"}, 10 * time.Second,
			`--authorization-mode: authorization mode "Webhook" is not supported: mini-apiserver has no authorization webhook; supported modes: AlwaysAllow,AlwaysDeny,ABAC,RBAC,Node`},
		{"garbage collector", []string{"--enable-garbage-collector=true"}, 10 * time.Second, "--enable-garbage-collector: mini-apiserver runs no garbage collector"},
		{"positional argument", []string{"serve"}, 10 * time.Second, `"mini-apiserver" does not take any arguments, got ["serve"]`},
		// kube-apiserver v1.37's refusal, then the line for readers of older audit tutorials.
		{"removed AdvancedAuditing gate", []string{"--feature-gates=AdvancedAuditing=true"}, 10 * time.Second, "the AdvancedAuditing feature gate went GA in Kubernetes 1.12 and was removed in 1.28; auditing is on when --audit-policy-file names a policy"},
		{"removed AdvancedAuditing gate, kube's error", []string{"--feature-gates=AdvancedAuditing=true"}, 10 * time.Second, `"command failed" err="unrecognized feature gate: AdvancedAuditing"`},
		{"unwritable data dir", []string{"--data-dir=" + filepath.Join(file, "sub")}, 10 * time.Second,
			"--data-dir " + filepath.Join(file, "sub") + ": mkdir " + file + ": not a directory"},
		{"port in use", []string{"--secure-port=" + strconv.Itoa(busy.Port())}, 20 * time.Second,
			"--bind-address/--secure-port: failed to create listener: failed to listen on 127.0.0.1:" + strconv.Itoa(busy.Port())},
		{"unreachable etcd", []string{"--etcd-servers=http://127.0.0.1:1"}, 60 * time.Second, "cannot reach etcd at --etcd-servers=http://127.0.0.1:1"},
		{"etcd TLS without servers", []string{"--etcd-cafile=/nonexistent"}, 10 * time.Second, "--etcd-cafile, --etcd-certfile and --etcd-keyfile need --etcd-servers"},
		{"missing client CA file", []string{"--client-ca-file=/nonexistent/ca.crt"}, 10 * time.Second, "--client-ca-file: open /nonexistent/ca.crt: no such file or directory"},
		{"unreadable client CA file", []string{"--client-ca-file=" + dir}, 10 * time.Second, "--client-ca-file: read " + dir + ": is a directory"},
		{"client CA file without certificates", []string{"--client-ca-file=" + garbageCA}, 10 * time.Second, `--client-ca-file: error loading CA bundle for "client-ca-bundle::` + garbageCA + `": data does not contain any valid RSA or ECDSA certificates`},
		{"malformed token file", []string{"--token-auth-file=" + badTokens}, 10 * time.Second,
			"--token-auth-file: " + badTokens + ", line 2: want at least 3 columns (token, user name, user uid[, \"group1,group2\"]), found 2"},
		{"missing token file", []string{"--token-auth-file=/nonexistent/tokens.csv"}, 10 * time.Second, "--token-auth-file: open /nonexistent/tokens.csv: no such file or directory"},
		{"malformed ABAC line", []string{"--authorization-mode=ABAC", "--authorization-policy-file=" + badABAC}, 10 * time.Second,
			"--authorization-policy-file: error reading policy file " + badABAC + ", line 3: {\"user\": \"b\",: unexpected end of JSON input"},
		{"ABAC without a policy file", []string{"--authorization-mode=ABAC"}, 10 * time.Second, "authorization-mode ABAC's authorization policy file not passed"},
		{"policy file without ABAC", []string{"--authorization-policy-file=" + badABAC}, 10 * time.Second, "cannot specify --authorization-policy-file without mode ABAC"},
		{"missing webhook kubeconfig", []string{"--audit-webhook-config-file=/nonexistent/webhook"}, 10 * time.Second,
			"--audit-webhook-config-file: open /nonexistent/webhook: no such file or directory"},
		{"webhook kubeconfig not YAML", []string{"--audit-webhook-config-file=" + badWebhookYAML}, 10 * time.Second,
			"--audit-webhook-config-file " + badWebhookYAML + ": not a kubeconfig: yaml: line 1: did not find expected ',' or ']'"},
		{"webhook kubeconfig without a receiver", []string{"--audit-webhook-config-file=" + emptyWebhook}, 10 * time.Second,
			"--audit-webhook-config-file " + emptyWebhook + ": no receiver: the current context must name a cluster with a server URL"},
		{"unknown webhook mode", []string{"--audit-webhook-mode=sometimes"}, 10 * time.Second, `--audit-webhook-mode "sometimes": allowed modes are batch, blocking, blocking-strict`},
		{"unknown log mode", []string{"--audit-log-mode=eventually"}, 10 * time.Second, `--audit-log-mode "eventually": allowed modes are batch, blocking, blocking-strict`},
		{"negative log maxsize", []string{"--audit-log-path=" + filepath.Join(dir, "audit.log"), "--audit-log-maxsize=-1"}, 10 * time.Second, "--audit-log-maxsize -1 can't be a negative number"},
		{"unknown log format", []string{"--audit-log-path=" + filepath.Join(dir, "audit.log"), "--audit-log-format=xml"}, 10 * time.Second, "invalid audit log format xml"},
		{"missing TLS certificate", []string{"--tls-cert-file=/nonexistent.crt", "--tls-private-key-file=/nonexistent.key"}, 10 * time.Second,
			"--tls-cert-file /nonexistent.crt / --tls-private-key-file /nonexistent.key: open /nonexistent.crt: no such file or directory"},
		{"TLS certificate without key", []string{"--tls-cert-file=" + garbageCA}, 10 * time.Second, "--tls-cert-file and --tls-private-key-file must be given together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--data-dir") {
				args = append(args, "--data-dir="+filepath.Join(t.TempDir(), "data"))
			}
			if !strings.Contains(strings.Join(args, " "), "--secure-port") {
				args = append(args, "--secure-port="+strconv.Itoa(freePort(t)))
			}
			code, stderr := runBinary(t, tc.timeout, args...)
			if code == 0 {
				t.Fatalf("exit code 0, want failure")
			}
			// klog quotes the error as kube-apiserver's does: err="...\"...\"".
			if !strings.Contains(stderr, tc.stderr) && !strings.Contains(stderr, strings.ReplaceAll(tc.stderr, `"`, `\"`)) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if strings.Contains(stderr, "panic:") {
				t.Errorf("panicked:\n%s", stderr)
			}
		})
	}
}
