package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// The classic lesson of audit policies: a secret's data never reaches the
// log at Metadata, a configmap's does at Request.
const secretsPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources: [{group: "", resources: ["secrets"]}]
- level: Request
  resources: [{group: "", resources: ["configmaps"]}]
- level: None
`

func TestConfigMaps(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{Policy: secretsPolicy})
	client := s.Client().CoreV1().ConfigMaps("default")
	ctx := context.Background()

	s.Kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3")
	if out := s.Kubectl("get", "cm", "settings"); !regexpMatch(`^NAME\s+DATA\s+AGE\nsettings\s+2\s+\S+\n$`, out) {
		t.Errorf("kubectl get cm:\n%s", out)
	}
	if out := s.Kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.mode}"); out != "fast" {
		t.Errorf("data.mode %q", out)
	}

	_, err := client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Data: map[string]string{"a b": "1"}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `ConfigMap "bad" is invalid: data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`)
	_, err = client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "both"}, Data: map[string]string{"k": "1"}, BinaryData: map[string][]byte{"k": {1}}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `ConfigMap "both" is invalid: data[k]: Invalid value: "k": duplicate of key present in binaryData`)
	big := strings.Repeat("x", 1<<20)
	_, err = client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": big, "b": "1"}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes`)

	frozen, err := client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "frozen"}, Data: map[string]string{"k": "1"}, Immutable: ptr.To(true)}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	frozen.Data["k"] = "2"
	_, err = client.Update(ctx, frozen, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set")
	frozen.Data["k"], frozen.Immutable = "1", ptr.To(false)
	_, err = client.Update(ctx, frozen, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, "ConfigMap \"frozen\" is invalid: immutable: Forbidden: field is immutable when `immutable` is set")

	events := waitForEvents(t, s.AuditEvents, []expect.Event{{
		Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/configmaps?fieldManager=kubectl-create&fieldValidation=Strict",
		Verb: "create", Code: 201, User: "kubernetes-admin", Resource: "configmaps", Namespace: "default", Name: "settings",
		RequestObject: true, AuthorizeDecision: "allow",
	}, {
		Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/configmaps",
		Verb: "create", Code: 422, User: "kubernetes-admin", Resource: "configmaps", Namespace: "default", Name: "bad",
		RequestObject: true, AuthorizeDecision: "allow",
	}})
	for _, e := range events {
		if e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Name == "settings" && !strings.Contains(string(e.RequestObject.Raw), `"mode":"fast"`) {
			t.Errorf("the configmap's data is not in its Request event: %s", e.RequestObject.Raw)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, harness.Options{Policy: secretsPolicy})
	client := s.Client().CoreV1().Secrets("default")
	ctx := context.Background()

	// stringData is written into data, over a key of the same name, and not kept; the type defaults to Opaque.
	created, err := client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Data: map[string][]byte{"user": []byte("admin"), "password": []byte("old")}, StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Type != corev1.SecretTypeOpaque || string(created.Data["password"]) != "s3cret" || string(created.Data["user"]) != "admin" || created.StringData != nil {
		t.Errorf("created secret: type %q data %q stringData %q", created.Type, created.Data, created.StringData)
	}
	s.Kubectl("create", "secret", "generic", "token", "--from-literal=token=abc")
	if out := s.Kubectl("get", "secrets"); !regexpMatch(`^NAME\s+TYPE\s+DATA\s+AGE\ndb\s+Opaque\s+2\s+\S+\ntoken\s+Opaque\s+1\s+\S+\n$`, out) {
		t.Errorf("kubectl get secrets:\n%s", out)
	}

	_, err = client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("not a certificate")}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `Secret "tls" is invalid: data[tls.key]: Required value`)
	_, err = client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `Secret "pull" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input`)
	_, err = client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sa"}, Type: corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `Secret "sa" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value`)
	// A TLS pair that does not load is accepted, with kube's warning.
	r := s.KubectlEnv(nil, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"badpair"},"type":"kubernetes.io/tls","data":{"tls.crt":"`+b64([]byte("x"))+`","tls.key":"`+b64([]byte("y"))+`"}}`, "create", "-f", "-")
	if r.Err != nil || !strings.Contains(r.Stderr, "Warning: tls: failed to find any PEM data in certificate input") {
		t.Errorf("malformed TLS pair: %v\n%s", r.Err, r.Stderr)
	}

	// Field selectors: kube's type, and an unsupported field refused.
	list, err := client.List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/tls"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "badpair" {
		t.Errorf("secrets of type kubernetes.io/tls: %v %v", err, list)
	}
	_, err = client.List(ctx, metav1.ListOptions{FieldSelector: "data.password=x"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `field label not supported: data.password`) {
		t.Errorf("unsupported field selector: %v", err)
	}

	frozen, err := client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "frozen"}, Data: map[string][]byte{"k": []byte("1")}, Immutable: ptr.To(true)}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	frozen.Data["k"] = []byte("2")
	_, err = client.Update(ctx, frozen, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, "Secret \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set")
	frozen.Data["k"], frozen.Type = []byte("1"), corev1.SecretTypeBasicAuth
	_, err = client.Update(ctx, frozen, metav1.UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), `type: Invalid value: "kubernetes.io/basic-auth": field is immutable`) {
		t.Errorf("type change: %v", err)
	}

	// At Metadata the secret's event has no body: its data never reaches the log.
	events := waitForEvents(t, s.AuditEvents, []expect.Event{{
		Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/secrets",
		Verb: "create", Code: 201, User: "kubernetes-admin", Resource: "secrets", Namespace: "default", Name: "db", AuthorizeDecision: "allow",
	}, {
		Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls",
		Verb: "list", Code: 200, User: "kubernetes-admin", Resource: "secrets", Namespace: "default", AuthorizeDecision: "allow",
	}})
	for _, e := range events {
		raw, _ := json.Marshal(e)
		if strings.Contains(string(raw), b64([]byte("s3cret"))) || strings.Contains(string(raw), "s3cret") {
			t.Errorf("a secret's data reached the log: %s", raw)
		}
	}
}

// Deleting a namespace deletes every namespaced resource in it, as kube's
// namespace controller does, not only its pods.
func TestNamespaceDeletionEmptiesEveryResource(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx := context.Background()
	createNamespace(t, client, "doomed")
	if _, err := client.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Secrets("doomed").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Kubectl("create", "role", "r", "--verb=get", "--resource=pods", "-n", "doomed")
	if err := client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "the namespace to be gone", func() (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	inNamespace := metav1.ListOptions{FieldSelector: "metadata.namespace=doomed"}
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, inNamespace)
	if err != nil || len(cms.Items) != 0 {
		t.Errorf("configmaps left: %v %v", err, cms)
	}
	secrets, err := client.CoreV1().Secrets("").List(ctx, inNamespace)
	if err != nil || len(secrets.Items) != 0 {
		t.Errorf("secrets left: %v %v", err, secrets)
	}
	roles, err := client.RbacV1().Roles("").List(ctx, inNamespace)
	if err != nil || len(roles.Items) != 0 {
		t.Errorf("roles left: %v %v", err, roles)
	}
}

// kube's aggregated roles grant on the new resources exactly what they grant
// on a cluster: view reads configmaps but neither secrets nor leases, edit
// (and admin, which aggregates it) writes all three; the rows of events,
// deployments and the pod subresources are kubectl auth can-i's answers on
// kube-apiserver v1.37.2 with the same roles.
func TestAggregatedRolesOnTheCoreAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--authorization-mode=RBAC")
	for _, user := range []string{"viewer", "editor", "administrator"} {
		role := map[string]string{"viewer": "view", "editor": "edit", "administrator": "admin"}[user]
		s.Kubectl("create", "rolebinding", user, "--clusterrole="+role, "--user="+user, "-n", "default")
	}
	for _, tc := range []struct {
		user, verb, resource, want string
	}{
		{"viewer", "get", "configmaps", "yes"}, {"viewer", "list", "configmaps", "yes"}, {"viewer", "create", "configmaps", "no"},
		{"viewer", "get", "secrets", "no"}, {"viewer", "list", "secrets", "no"}, {"viewer", "get", "leases.coordination.k8s.io", "no"},
		{"editor", "create", "configmaps", "yes"}, {"editor", "delete", "secrets", "yes"}, {"editor", "get", "secrets", "yes"},
		{"editor", "get", "leases.coordination.k8s.io", "yes"}, {"editor", "update", "leases.coordination.k8s.io", "yes"},
		{"administrator", "update", "secrets", "yes"}, {"administrator", "create", "leases.coordination.k8s.io", "yes"},
		{"viewer", "get", "events", "yes"}, {"viewer", "create", "events", "no"}, {"viewer", "get", "events.events.k8s.io", "yes"},
		{"viewer", "get", "deployments.apps", "yes"}, {"viewer", "update", "deployments.apps", "no"}, {"viewer", "get", "deployments.apps/scale", "yes"},
		{"viewer", "patch", "deployments.apps/scale", "no"}, {"viewer", "create", "pods/exec", "no"}, {"viewer", "get", "pods/log", "yes"},
		{"viewer", "create", "pods/eviction", "no"}, {"viewer", "patch", "pods/ephemeralcontainers", "no"},
		{"editor", "create", "events", "yes"}, {"editor", "delete", "events", "yes"}, {"editor", "update", "deployments.apps", "yes"},
		{"editor", "patch", "deployments.apps/scale", "yes"}, {"editor", "update", "deployments.apps/status", "yes"},
		{"editor", "create", "pods/exec", "yes"}, {"editor", "create", "pods/attach", "yes"}, {"editor", "create", "pods/portforward", "yes"},
		{"editor", "get", "pods/proxy", "yes"}, {"editor", "create", "pods/eviction", "yes"}, {"editor", "create", "pods/binding", "yes"},
		{"editor", "patch", "pods/ephemeralcontainers", "yes"}, {"editor", "patch", "pods/resize", "yes"}, {"editor", "update", "pods/status", "yes"},
		{"editor", "create", "bindings", "no"}, {"administrator", "create", "pods/exec", "yes"}, {"administrator", "create", "bindings", "no"},
	} {
		// RBAC reads bindings and the aggregated roles from caches: poll.
		eventually(t, waitShort, "can-i "+tc.verb+" "+tc.resource+" as "+tc.user+" = "+tc.want, func() (bool, error) {
			r := s.KubectlEnv(nil, "", "auth", "can-i", tc.verb, tc.resource, "-n", "default", "--as", tc.user)
			return r.Stdout == tc.want+"\n", nil
		})
	}
}
