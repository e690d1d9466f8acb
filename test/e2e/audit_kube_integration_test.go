package e2e

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// The configmap case of kubernetes' test/integration/controlplane/audit
// (TestAudit, the namespace without a webhook), written again: a policy
// that records configmaps in one namespace at RequestResponse, the same
// seven operations with client-go in a blocking log, and the same eight
// events (a watch has ResponseStarted and ResponseComplete). The user is our
// admin where kube's test uses the loopback system:apiserver.
func TestKubeIntegrationAuditConfigMapOperations(t *testing.T) {
	t.Parallel()
	const ns = "no-webhook-namespace"
	s := startServerOpts(t, harness.Options{
		Policy: `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: RequestResponse
  namespaces: ["` + ns + `"]
  resources:
  - group: ""
    resources: ["configmaps"]
`,
		Flags: []string{"--audit-log-mode=blocking"},
	})
	client := s.Client()
	createNamespace(t, client, ns)
	configMapOperations(t, client, ns, nil)

	const admin = "kubernetes-admin"
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	event := func(stage auditv1.Stage, uri, verb string, code int32, request, response bool) expect.Event {
		return expect.Event{Level: auditv1.LevelRequestResponse, Stage: stage, RequestURI: uri, Verb: verb, Code: code, User: admin,
			Resource: "configmaps", Namespace: ns, RequestObject: request, ResponseObject: response, AuthorizeDecision: "allow"}
	}
	watchURI := base + "?timeout=1s&timeoutSeconds=1&watch=true"
	want := []expect.Event{
		event(auditv1.StageResponseComplete, base, "create", 201, true, true),
		event(auditv1.StageResponseComplete, base+"/audit-configmap", "get", 200, false, true),
		event(auditv1.StageResponseComplete, base, "list", 200, false, true),
		event(auditv1.StageResponseStarted, watchURI, "watch", 200, false, false),
		event(auditv1.StageResponseComplete, watchURI, "watch", 200, false, false),
		event(auditv1.StageResponseComplete, base+"/audit-configmap", "update", 200, true, true),
		event(auditv1.StageResponseComplete, base+"/audit-configmap", "patch", 200, true, true),
		event(auditv1.StageResponseComplete, base+"/audit-configmap", "delete", 200, true, true),
	}
	waitForEvents(t, s.AuditEvents, want)
}

// configMapOperations are kube's: create, get, watch (until its one-second
// timeout), update, an empty JSON patch, list, delete; the configmap has
// labels (kube's test labels the ones its webhook selects).
func configMapOperations(t *testing.T, client kubernetes.Interface, ns string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	cms := client.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audit-configmap", Namespace: ns, Labels: labels}, Data: map[string]string{"map-key": "map-value"}}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, cm.Name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	timeout := int64(1)
	w, err := cms.Watch(ctx, metav1.ListOptions{TimeoutSeconds: &timeout})
	if err != nil {
		t.Fatal(err)
	}
	for range w.ResultChan() { // until the server ends it, so that ResponseComplete is written
	}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx, cm.Name, types.JSONPatchType, []byte("[]"), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The cross-group subresource cases of kubernetes' TestAudit
// (test/integration/controlplane/audit, testAuditCrossGroupSubResource),
// written again: a serviceaccounts/token create (an authentication.k8s.io
// TokenRequest in the core group) and a deployments/scale update (apps,
// with an autoscaling/v1 Scale body), each audited at Request and at
// RequestResponse, and a rule for group "*" matching a deployment create.
func TestKubeIntegrationAuditCrossGroupSubresource(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{
		Policy: `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Request
  namespaces: ["create-audit-request"]
  resources:
  - group: ""
    resources: ["serviceaccounts/token"]
- level: RequestResponse
  namespaces: ["create-audit-response"]
  resources:
  - group: ""
    resources: ["serviceaccounts/token"]
- level: Request
  namespaces: ["update-audit-request"]
  resources:
  - group: "apps"
    resources: ["deployments/scale"]
- level: RequestResponse
  namespaces: ["update-audit-response"]
  resources:
  - group: "apps"
    resources: ["deployments/scale"]
- level: Request
  namespaces: ["wildcard-group-audit-request"]
  resources:
  - group: "*"
    resources: ["deployments"]
`,
		Flags: []string{"--audit-log-mode=blocking"},
	})
	client := s.Client()
	ctx := context.Background()
	const admin = "kubernetes-admin"
	var want []expect.Event
	for _, tc := range []struct {
		ns    string
		level auditv1.Level
	}{{"create-audit-request", auditv1.LevelRequest}, {"create-audit-response", auditv1.LevelRequestResponse}} {
		createNamespace(t, client, tc.ns)
		if _, err := client.CoreV1().ServiceAccounts(tc.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "audit-serviceaccount"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		treq := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"api"}}}
		if _, err := client.CoreV1().ServiceAccounts(tc.ns).CreateToken(ctx, "audit-serviceaccount", treq, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, expect.Event{Level: tc.level, Stage: auditv1.StageResponseComplete,
			RequestURI: "/api/v1/namespaces/" + tc.ns + "/serviceaccounts/audit-serviceaccount/token", Verb: "create", Code: 201, User: admin,
			Resource: "serviceaccounts", Subresource: "token", Namespace: tc.ns, Name: "audit-serviceaccount", RequestObject: true,
			ResponseObject: tc.level == auditv1.LevelRequestResponse, AuthorizeDecision: "allow"})
	}
	for _, tc := range []struct {
		ns    string
		level auditv1.Level
	}{{"update-audit-request", auditv1.LevelRequest}, {"update-audit-response", auditv1.LevelRequestResponse}, {"wildcard-group-audit-request", auditv1.LevelRequest}} {
		createNamespace(t, client, tc.ns)
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "audit-deployment", Namespace: tc.ns},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "test"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Name: "audit-deployment-scale", Namespace: tc.ns, Labels: map[string]string{"app": "test"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "foo", Image: "foo/bar"}}},
				},
			},
		}
		if _, err := client.AppsV1().Deployments(tc.ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if tc.ns == "wildcard-group-audit-request" {
			want = append(want, expect.Event{Level: tc.level, Stage: auditv1.StageResponseComplete, RequestURI: "/apis/apps/v1/namespaces/" + tc.ns + "/deployments",
				Verb: "create", Code: 201, User: admin, Resource: "deployments", Namespace: tc.ns, RequestObject: true, AuthorizeDecision: "allow"})
			continue
		}
		scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "audit-deployment", Namespace: tc.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}
		if _, err := client.AppsV1().Deployments(tc.ns).UpdateScale(ctx, "audit-deployment", scale, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, expect.Event{Level: tc.level, Stage: auditv1.StageResponseComplete,
			RequestURI: "/apis/apps/v1/namespaces/" + tc.ns + "/deployments/audit-deployment/scale", Verb: "update", Code: 200, User: admin,
			Resource: "deployments", Subresource: "scale", Namespace: tc.ns, Name: "audit-deployment", RequestObject: true,
			ResponseObject: tc.level == auditv1.LevelRequestResponse, AuthorizeDecision: "allow"})
	}
	events := waitForEvents(t, s.AuditEvents, want)
	// Only what the rules select: no event of the scale namespaces' creates.
	for _, e := range events {
		if e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == "deployments" && e.ObjectRef.Namespace != "wildcard-group-audit-request" {
			t.Errorf("unexpected event %s %s", e.Verb, e.RequestURI)
		}
		if e.Stage == auditv1.StageResponseComplete && e.ObjectRef != nil && e.ObjectRef.Subresource == "scale" && (e.ObjectRef.APIGroup != "apps" || e.ObjectRef.APIVersion != "v1" ||
			!strings.Contains(string(e.RequestObject.Raw), `"kind":"Scale","apiVersion":"autoscaling/v1"`)) {
			t.Errorf("scale event: objectRef %+v, request %s", e.ObjectRef, e.RequestObject.Raw)
		}
	}
}
