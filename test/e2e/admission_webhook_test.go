package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// startAdmissionWebhook serves review on a loopback HTTPS server for the
// test's life and counts its calls.
func startAdmissionWebhook(t *testing.T, review func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) (*harness.AdmissionWebhook, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	w, err := harness.StartAdmissionWebhook(harness.AdmissionReviewHandler(func(r *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		calls.Add(1)
		return review(r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w, &calls
}

// waitForWebhook creates labelled configmaps in ns until the webhook is
// called: a configuration takes effect when the server's informer has it.
func waitForWebhook(t *testing.T, client kubernetes.Interface, ns string, labels map[string]string, calls *atomic.Int64) {
	t.Helper()
	before := calls.Load()
	i := 0
	eventually(t, waitShort, "the webhook to be called", func() (bool, error) {
		i++
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: labels}}
		_, _ = client.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
		return calls.Load() > before, nil
	})
}

// The mutating webhook cases of kubernetes' TestAudit
// (test/integration/controlplane/audit/audit_test.go), written again: a
// webhook selecting configmaps labelled admission=true answers every
// create and update with a JSON patch, over AdmissionReview v1beta1; the
// configmap operations run in a namespace audited at Metadata, one at
// Request and one at RequestResponse. Each create and update records that
// the webhook mutated the object (from Metadata) and the patch (from
// Request), exactly as kube writes them.
func TestKubeIntegrationAuditMutatingWebhook(t *testing.T) {
	t.Parallel()
	const patch = `[{"op":"add","path":"/data","value":{"test":"dummy"}}]`
	hook, calls := startAdmissionWebhook(t, func(r *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true, Result: &metav1.Status{Message: "admitted"},
			Patch: []byte(patch), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
	})
	levels := map[string]auditv1.Level{
		"webhook-audit-metadata": auditv1.LevelMetadata,
		"webhook-audit-request":  auditv1.LevelRequest,
		"webhook-audit-response": auditv1.LevelRequestResponse,
	}
	policy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
	for ns, level := range levels {
		policy += "- level: " + string(level) + "\n  namespaces: [\"" + ns + "\"]\n  resources:\n  - group: \"\"\n    resources: [\"configmaps\"]\n"
	}
	s := startServerOpts(t, harness.Options{Policy: policy, Flags: []string{"--audit-log-mode=blocking"}})
	client := s.Client()
	const name = "auditmutation.integration.test"
	_, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         name,
			ClientConfig: hook.ClientConfig("/mutation"),
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}},
			}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"admission": "true"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			AdmissionReviewVersions: []string{"v1beta1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"admission": "true"}
	for ns := range levels {
		createNamespace(t, client, ns)
	}
	waitForWebhook(t, client, "webhook-audit-metadata", labels, calls)

	mutated := `{"configuration":"` + name + `","webhook":"` + name + `","mutated":true}`
	patched := `{"configuration":"` + name + `","webhook":"` + name + `","patch":` + patch + `,"patchType":"JSONPatch"}`
	var want []expect.Event
	for ns, level := range levels {
		configMapOperations(t, client, ns, labels)
		annotations := map[string]string{"mutation.webhook.admission.k8s.io/round_0_index_0": mutated}
		if level != auditv1.LevelMetadata {
			annotations["patch.webhook.admission.k8s.io/round_0_index_0"] = patched
		}
		base := "/api/v1/namespaces/" + ns + "/configmaps"
		for _, op := range []struct {
			verb, uri string
			code      int32
		}{{"create", base, 201}, {"update", base + "/audit-configmap", 200}} {
			want = append(want, expect.Event{Level: level, Stage: auditv1.StageResponseComplete, RequestURI: op.uri, Verb: op.verb, Code: op.code,
				User: "kubernetes-admin", Resource: "configmaps", Namespace: ns, Name: "audit-configmap", AuthorizeDecision: "allow",
				RequestObject: level != auditv1.LevelMetadata, ResponseObject: level == auditv1.LevelRequestResponse, Annotations: annotations})
		}
	}
	events := waitForEvents(t, s.AuditEvents, want)
	for _, e := range events {
		if _, ok := e.Annotations["patch.webhook.admission.k8s.io/round_0_index_0"]; ok && e.Level == auditv1.LevelMetadata {
			t.Errorf("a Metadata event carries the patch: %s %s", e.Verb, e.RequestURI)
		}
		if e.Verb == "create" && e.Level == auditv1.LevelRequestResponse && e.ObjectRef.Name == "audit-configmap" {
			var cm corev1.ConfigMap
			if err := json.Unmarshal(e.ResponseObject.Raw, &cm); err != nil || cm.Data["test"] != "dummy" || len(cm.Data) != 1 {
				t.Errorf("response object %s: want the webhook's data only (%v)", e.ResponseObject.Raw, err)
			}
		}
	}
}

// A validating webhook's warnings reach the client and its
// auditAnnotations the audit event under the webhook's name, as the
// library writes them; a denial is the webhook's code and message.
func TestValidatingWebhookWarningsAuditAnnotationsAndDenial(t *testing.T) {
	t.Parallel()
	hook, calls := startAdmissionWebhook(t, func(r *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		var cm corev1.ConfigMap
		_ = json.Unmarshal(r.Object.Raw, &cm)
		resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{"configmap " + cm.Name + " looked at"},
			AuditAnnotations: map[string]string{"verdict": "fine"}}
		if cm.Data["forbidden"] != "" {
			resp = &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Code: 403, Message: "forbidden key present"},
				AuditAnnotations: map[string]string{"verdict": "denied"}}
		}
		return resp
	})
	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [configmaps]}]\n"})
	client := s.Client()
	const name = "check.example.com"
	_, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "check"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: name, ClientConfig: hook.ClientConfig("/validate"),
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"checked": "true"}},
			SideEffects:    ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"checked": "true"}
	waitForWebhook(t, client, "default", labels, calls)

	out := s.KubectlEnv(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"good","labels":{"checked":"true"}}}`, "create", "-f", "-")
	if out.Err != nil || !strings.Contains(out.Stderr, "Warning: configmap good looked at") {
		t.Errorf("create: %v, stderr %q: want the webhook's warning", out.Err, out.Stderr)
	}
	_, err = client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "bad", Labels: labels}, Data: map[string]string{"forbidden": "x"}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusForbidden, `admission webhook "check.example.com" denied the request: forbidden key present`)
	base := "/api/v1/namespaces/default/configmaps"
	waitForEvents(t, s.AuditEvents, []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: base + "?fieldManager=kubectl-create&fieldValidation=Strict", Verb: "create", Code: 201,
			User: "kubernetes-admin", Resource: "configmaps", Namespace: "default", Name: "good", AuthorizeDecision: "allow",
			Annotations: map[string]string{name + "/verdict": "fine"}},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: base, Verb: "create", Code: 403,
			User: "kubernetes-admin", Resource: "configmaps", Namespace: "default", Name: "bad", AuthorizeDecision: "allow",
			Annotations: map[string]string{name + "/verdict": "denied"}},
	})
}

// A webhook that cannot answer fails the request (failurePolicy Fail: 500,
// the library's message naming the webhook and the cause) or lets it
// through (Ignore), recording that it failed open, each audited with its
// code: a webhook that is down, one that times out, one that answers
// garbage, one whose certificate the caBundle does not sign.
func TestWebhookFailureModes(t *testing.T) {
	t.Parallel()
	ok, calls := startAdmissionWebhook(t, func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true}
	})
	down, _ := startAdmissionWebhook(t, nil)
	down.Close()
	slow, err := harness.StartAdmissionWebhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slow.Close)
	garbage, err := harness.StartAdmissionWebhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("this is not an AdmissionReview"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(garbage.Close)
	badCA := ok.ClientConfig("/")
	badCA.CABundle = garbage.CABundle

	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [configmaps]}]\n"})
	client := s.Client()
	hook := func(name string, cc admissionregistrationv1.WebhookClientConfig, policy admissionregistrationv1.FailurePolicyType) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name: name + ".example.com", ClientConfig: cc, FailurePolicy: ptr.To(policy), TimeoutSeconds: ptr.To[int32](1),
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"case": name}},
			SideEffects:    ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}
	}
	webhooks := []admissionregistrationv1.MutatingWebhook{
		hook("probe", ok.ClientConfig("/"), admissionregistrationv1.Fail),
		hook("down-fail", down.ClientConfig("/"), admissionregistrationv1.Fail),
		hook("down-ignore", down.ClientConfig("/"), admissionregistrationv1.Ignore),
		hook("timeout", slow.ClientConfig("/"), admissionregistrationv1.Fail),
		hook("garbage", garbage.ClientConfig("/"), admissionregistrationv1.Fail),
		hook("bad-ca", badCA, admissionregistrationv1.Fail),
	}
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "failures"}, Webhooks: webhooks}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForWebhook(t, client, "default", map[string]string{"case": "probe"}, calls)

	create := func(name string) error {
		_, err := client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"case": name}}}, metav1.CreateOptions{})
		return err
	}
	for name, cause := range map[string]string{
		"down-fail": "connect: connection refused",
		"timeout":   "context deadline exceeded",
		"garbage":   "couldn't get version/kind; json parse error",
		"bad-ca":    "x509: certificate signed by unknown authority",
	} {
		err := create(name)
		wantCode(t, err, http.StatusInternalServerError)
		if msg := err.Error(); !strings.Contains(msg, `failed calling webhook "`+name+`.example.com"`) || !strings.Contains(msg, cause) {
			t.Errorf("%s: %q, want the webhook's name and %q", name, msg, cause)
		}
	}
	if err := create("down-ignore"); err != nil {
		t.Errorf("failurePolicy Ignore: %v", err)
	}
	event := func(name string, code int32, annotations map[string]string) expect.Event {
		return expect.Event{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/configmaps",
			Verb: "create", Code: code, User: "kubernetes-admin", Resource: "configmaps", Namespace: "default", Name: name,
			AuthorizeDecision: "allow", Annotations: annotations}
	}
	waitForEvents(t, s.AuditEvents, []expect.Event{
		event("down-fail", 500, nil), event("timeout", 500, nil), event("garbage", 500, nil), event("bad-ca", 500, nil),
		event("down-ignore", 201, map[string]string{"failed-open.mutation.webhook.admission.k8s.io/round_0_index_2": "down-ignore.example.com"}),
	})
}

// wantCode fails unless err is an API error with code.
func wantCode(t *testing.T, err error, code int32) {
	t.Helper()
	status, ok := err.(apierrors.APIStatus)
	if !ok || status.Status().Code != code {
		t.Fatalf("want API error %d, got %v", code, err)
	}
}

// Two mutating webhooks, the first with reinvocationPolicy IfNeeded: the
// second's change makes the library call the first again in a second
// round, and the audit event has an annotation for each call
// (round_1_index_0 among them, mutated false). A match condition keeps the
// second away from one object, and then nothing is reinvoked; a dry run
// calls webhooks (sideEffects None) and is audited the same, and stores
// nothing.
func TestMutatingWebhookReinvocationMatchConditionsAndDryRun(t *testing.T) {
	t.Parallel()
	stamp := func(label string) func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return func(r *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
			var cm corev1.ConfigMap
			_ = json.Unmarshal(r.Object.Raw, &cm)
			if cm.Labels[label] != "" {
				return &admissionv1.AdmissionResponse{Allowed: true}
			}
			return &admissionv1.AdmissionResponse{Allowed: true, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch),
				Patch: []byte(`[{"op":"add","path":"/metadata/labels/` + label + `","value":"yes"}]`)}
		}
	}
	a, aCalls := startAdmissionWebhook(t, stamp("a"))
	b, _ := startAdmissionWebhook(t, stamp("b"))
	const ns = "reinvoke"
	s := startServerOpts(t, harness.Options{Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n  namespaces: [" + ns + "]\n  resources: [{group: \"\", resources: [configmaps]}]\n"})
	client := s.Client()
	createNamespace(t, client, ns)
	selected := &metav1.LabelSelector{MatchLabels: map[string]string{"sel": "yes"}}
	configuration := func(name string, hook *harness.AdmissionWebhook, reinvoke admissionregistrationv1.ReinvocationPolicyType, conditions ...admissionregistrationv1.MatchCondition) {
		t.Helper()
		_, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: name + ".example.com", ClientConfig: hook.ClientConfig("/"), ObjectSelector: selected, MatchConditions: conditions,
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
				SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: ptr.To(reinvoke),
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	configuration("a", a, admissionregistrationv1.IfNeededReinvocationPolicy)
	configuration("b", b, admissionregistrationv1.NeverReinvocationPolicy,
		admissionregistrationv1.MatchCondition{Name: "not-skipped", Expression: "object.metadata.name != 'skip-b'"})
	// Both are in effect when a probe comes back with both labels.
	i := 0
	eventually(t, waitShort, "both webhooks to be called", func() (bool, error) {
		i++
		cm, err := client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("probe-%d", i), Labels: map[string]string{"sel": "yes"}}}, metav1.CreateOptions{})
		return err == nil && cm.Labels["a"] == "yes" && cm.Labels["b"] == "yes", nil
	})
	create := func(name string, dryRun bool) *corev1.ConfigMap {
		t.Helper()
		opts := metav1.CreateOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		cm, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: name, Labels: map[string]string{"sel": "yes"}}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return cm
	}
	both := create("both", false)
	callsBefore := aCalls.Load()
	onlyA := create("skip-b", false)
	if aCalls.Load() != callsBefore+1 {
		t.Errorf("webhook a called %d times for skip-b, want once (no reinvocation without b)", aCalls.Load()-callsBefore)
	}
	dry := create("dry", true)
	if both.Labels["a"] != "yes" || both.Labels["b"] != "yes" || onlyA.Labels["a"] != "yes" || onlyA.Labels["b"] != "" || dry.Labels["b"] != "yes" {
		t.Errorf("labels: both %v, skip-b %v, dry %v", both.Labels, onlyA.Labels, dry.Labels)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "dry", metav1.GetOptions{}); err == nil {
		t.Errorf("a dry run stored its configmap")
	}
	mutation := func(config string, mutated bool) string {
		return fmt.Sprintf(`{"configuration":"%s","webhook":"%s.example.com","mutated":%t}`, config, config, mutated)
	}
	patch := func(config, label string) string {
		return `{"configuration":"` + config + `","webhook":"` + config + `.example.com","patch":[{"op":"add","path":"/metadata/labels/` + label + `","value":"yes"}],"patchType":"JSONPatch"}`
	}
	reinvoked := map[string]string{
		"mutation.webhook.admission.k8s.io/round_0_index_0": mutation("a", true), "patch.webhook.admission.k8s.io/round_0_index_0": patch("a", "a"),
		"mutation.webhook.admission.k8s.io/round_0_index_1": mutation("b", true), "patch.webhook.admission.k8s.io/round_0_index_1": patch("b", "b"),
		"mutation.webhook.admission.k8s.io/round_1_index_0": mutation("a", false),
	}
	event := func(name, uri string, annotations map[string]string) expect.Event {
		return expect.Event{Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, RequestURI: uri, Verb: "create", Code: 201,
			User: "kubernetes-admin", Resource: "configmaps", Namespace: ns, Name: name, RequestObject: true, AuthorizeDecision: "allow", Annotations: annotations}
	}
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	events := waitForEvents(t, s.AuditEvents, []expect.Event{
		event("both", base, reinvoked),
		event("dry", base+"?dryRun=All", reinvoked),
		event("skip-b", base, map[string]string{"mutation.webhook.admission.k8s.io/round_0_index_0": mutation("a", true)}),
	})
	for _, e := range events {
		if e.ObjectRef != nil && e.ObjectRef.Name == "skip-b" && e.Stage == auditv1.StageResponseComplete {
			for k := range e.Annotations {
				if strings.Contains(k, "index_1") || strings.Contains(k, "round_1") {
					t.Errorf("skip-b has %s: webhook b's match condition should have kept it out", k)
				}
			}
		}
	}
}

// --admission-control-config-file gives the webhook plugins kube's
// WebhookAdmissionConfiguration: a kubeconfig whose user named after the
// webhook's host:port holds the client certificate the server presents to
// it. A webhook at another host:port gets no certificate and, refused by
// the TLS handshake, fails the request (failurePolicy Fail). The library's
// webhook metrics count the calls.
func TestWebhookClientCredentialsAndMetrics(t *testing.T) {
	t.Parallel()
	clientCA, err := pki.NewCA("webhook-client-ca")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pki.NewSigned(clientCA, pki.ClientTemplate("mini-apiserver"))
	if err != nil {
		t.Fatal(err)
	}
	servingCA, err := pki.NewCA("webhook-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := pki.NewSigned(servingCA, pki.ServingTemplate("webhook", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	hook := httptest.NewUnstartedServer(harness.AdmissionReviewHandler(func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		calls.Add(1)
		return &admissionv1.AdmissionResponse{Allowed: true}
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	hook.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	// The refused handshakes, as the webhook sees them.
	handshakes := &proc.SyncBuffer{}
	hook.Config.ErrorLog = log.New(handshakes, "", 0)
	hook.StartTLS()
	t.Cleanup(hook.Close)
	hostPort := strings.TrimPrefix(hook.URL, "https://")
	dir := t.TempDir()
	kubeconfigPath := filepath.Join(dir, "webhook.kubeconfig")
	// Only the user named after the host:port: a current context would
	// be every webhook's credential (the library's resolver falls back to it).
	webhookKubeconfig := clientcmdapi.NewConfig()
	webhookKubeconfig.AuthInfos[hostPort] = &clientcmdapi.AuthInfo{ClientCertificateData: cred.CertPEM, ClientKeyData: cred.KeyPEM}
	if err := clientcmd.WriteToFile(*webhookKubeconfig, kubeconfigPath); err != nil {
		t.Fatal(err)
	}
	admissionConfig := writeFile(t, "admission.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: `+kubeconfigPath+`
`)
	s := startServer(t, "--admission-control-config-file="+admissionConfig)
	client := s.Client()
	register := func(name, url string) {
		t.Helper()
		_, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: name + ".example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: servingCA.CertPEM},
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
				ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"hook": name}},
				SideEffects:    ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	register("authenticated", hook.URL+"/")
	register("anonymous", "https://localhost:"+strings.Split(hostPort, ":")[1]+"/")
	waitForWebhook(t, client, "default", map[string]string{"hook": "authenticated"}, &calls)
	// Registered after the first, so in effect once a create is refused.
	i := 0
	eventually(t, waitShort, "the second webhook to be in effect", func() (bool, error) {
		i++
		_, err = client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("anon-%d", i), Labels: map[string]string{"hook": "anonymous"}}}, metav1.CreateOptions{})
		return err != nil, nil
	})
	wantCode(t, err, http.StatusInternalServerError)
	// The server's side of a refused TLS 1.3 handshake ends in the
	// webhook's alert or, when the request is written first, a broken pipe:
	// what refused it is in the webhook's log.
	if msg := err.Error(); !strings.Contains(msg, `failed calling webhook "anonymous.example.com"`) {
		t.Errorf("a webhook without a credential: %v", err)
	}
	if !strings.Contains(handshakes.String(), "tls: client didn't provide a certificate") {
		t.Errorf("the webhook's refused handshakes: %q", handshakes.String())
	}
	metrics, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`apiserver_admission_webhook_admission_duration_seconds_count{name="authenticated.example.com",operation="CREATE",rejected="false",type="validating"}`,
		`apiserver_admission_webhook_admission_duration_seconds_count{name="anonymous.example.com",operation="CREATE",rejected="true",type="validating"}`,
		`apiserver_admission_webhook_rejection_count{error_type="calling_webhook_error",name="anonymous.example.com",operation="CREATE",rejection_code="503",type="validating"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s in\n%s", want, grepLines(string(metrics), "webhook"))
		}
	}
}

// grepLines are the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
