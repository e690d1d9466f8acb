package e2e

import (
	"context"
	"testing"

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
	configMapOperations(t, client, ns)

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
// timeout), update, an empty JSON patch, list, delete.
func configMapOperations(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	cms := client.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audit-configmap", Namespace: ns}, Data: map[string]string{"map-key": "map-value"}}
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
