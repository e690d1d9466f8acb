package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/kubeconfig"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

const tokenCSV = `alice-token,alice,uid-alice,"devs,readers"
bob-token,bob,uid-bob
`

const abacPolicy = `# alice may read pods in team-a
{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "alice", "namespace": "team-a", "resource": "pods", "apiGroup": "", "readonly": true}}
# carol (client certificate) may do anything, impersonation included
{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "carol", "namespace": "*", "resource": "*", "apiGroup": "*"}}
`

// identityServer runs with tokens, an extra client CA, ABAC and
// anonymous requests on, auditing everything but the server's own work.
type identityServer struct {
	*apiServer
	log      string
	clientCA *pki.KeyPair
}

func startIdentityServer(t *testing.T) *identityServer {
	t.Helper()
	ca, err := pki.NewCA("e2e-users-ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, "users-ca.crt", string(ca.CertPEM))
	log := filepath.Join(t.TempDir(), "audit.log")
	policy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n" +
		"- level: None\n  users: [\"system:apiserver\", \"system:serviceaccount:kube-system:namespace-controller\"]\n" +
		"- level: Metadata\n"
	s := startServer(t,
		"--token-auth-file="+writeFile(t, "tokens.csv", tokenCSV),
		"--client-ca-file="+caFile,
		"--authorization-mode=ABAC", "--authorization-policy-file="+writeFile(t, "abac.jsonl", abacPolicy),
		"--audit-policy-file="+writePolicy(t, policy), "--audit-log-path="+log)
	return &identityServer{apiServer: s, log: log, clientCA: ca}
}

// kubeconfigFor writes a kubeconfig for the server with only the given
// credentials (no admin certificate): a token, a client certificate, or none.
func (s *identityServer) kubeconfigFor(t *testing.T, name, token string, cert *pki.KeyPair) string {
	t.Helper()
	admin := s.RESTConfig()
	cfg := kubeconfig.Config{Name: "mini", User: name, Server: admin.Host, CAData: admin.CAData, Token: token}
	if cert != nil {
		cfg.CertData, cfg.KeyData = cert.CertPEM, cert.KeyPEM
	}
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := kubeconfig.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func clientFor(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func kubectlAs(t *testing.T, kubeconfig string, args ...string) kubectlResult {
	t.Helper()
	return runKubectl(t, kubeconfig, nil, "", args...)
}

func TestIdentities(t *testing.T) {
	t.Parallel()
	s := startIdentityServer(t)
	ctx := context.Background()
	createNamespace(t, s.Client(), "team-a")
	if _, err := s.Client().CoreV1().Pods("team-a").Create(ctx, newPod("team-a", "existing"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	carolCert, err := pki.NewSigned(s.clientCA, pki.ClientTemplate("carol", "qa"))
	if err != nil {
		t.Fatal(err)
	}
	alice := s.kubeconfigFor(t, "alice", "alice-token", nil)
	bob := s.kubeconfigFor(t, "bob", "bob-token", nil)
	carol := s.kubeconfigFor(t, "carol", "", carolCert)
	anonymous := s.kubeconfigFor(t, "anonymous", "", nil)
	wrong := s.kubeconfigFor(t, "wrong", "not-a-token", nil)

	t.Run("whoami", func(t *testing.T) {
		for _, tc := range []struct {
			kubeconfig, user, groups string
		}{
			{s.Kubeconfig(), "kubernetes-admin", "[system:masters system:authenticated]"},
			{alice, "alice", "[devs readers system:authenticated]"},
			{carol, "carol", "[qa system:authenticated]"},
		} {
			r := kubectlAs(t, tc.kubeconfig, "auth", "whoami")
			if r.Err != nil || !regexpMatch(`(?m)^Username\s+`+tc.user+`$`, r.Stdout) || !regexpMatch(`(?m)^Groups\s+`+regexp.QuoteMeta(tc.groups)+`$`, r.Stdout) {
				t.Errorf("whoami as %s: %v\n%s%s", tc.user, r.Err, r.Stdout, r.Stderr)
			}
		}
		if r := kubectlAs(t, alice, "auth", "whoami"); !regexpMatch(`(?m)^UID\s+uid-alice$`, r.Stdout) {
			t.Errorf("token user UID missing:\n%s", r.Stdout)
		}
		// As in kube, only authenticated users may review themselves.
		_, err := clientFor(t, anonymous).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusForbidden, `selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope: abac: No policy matched.`)
		r := kubectlAs(t, wrong, "auth", "whoami")
		if r.Err == nil || !strings.Contains(r.Stderr, "Unauthorized") {
			t.Errorf("whoami with a wrong token: %v %s", r.Err, r.Stderr)
		}
	})

	t.Run("can-i", func(t *testing.T) {
		for _, tc := range []struct {
			kubeconfig string
			args       []string
			want       string
		}{
			{s.Kubeconfig(), []string{"create", "pods", "-n", "team-a"}, "yes"},
			{alice, []string{"list", "pods", "-n", "team-a"}, "yes"},
			{alice, []string{"create", "pods", "-n", "team-a"}, "no"},
			{alice, []string{"list", "pods", "-n", "team-b"}, "no"},
			{bob, []string{"get", "pods", "-n", "team-a"}, "no"},
			{carol, []string{"delete", "namespaces"}, "yes"},
		} {
			r := kubectlAs(t, tc.kubeconfig, append([]string{"auth", "can-i"}, tc.args...)...)
			// kubectl prints the authorizer's reason after a "no".
			if answer, _, _ := strings.Cut(strings.TrimSpace(r.Stdout), " - "); answer != tc.want {
				t.Errorf("%s can-i %v: %q (stderr %q), want %s", filepath.Base(tc.kubeconfig), tc.args, r.Stdout, r.Stderr, tc.want)
			}
			if (tc.want == "yes") != (r.Err == nil) {
				t.Errorf("%s can-i %v: exit %v", filepath.Base(tc.kubeconfig), tc.args, r.Err)
			}
		}
	})

	t.Run("ABAC read-only user", func(t *testing.T) {
		if r := kubectlAs(t, alice, "get", "pods", "-n", "team-a", "-o", "name"); r.Err != nil || r.Stdout != "pod/existing\n" {
			t.Errorf("alice list: %v %q %s", r.Err, r.Stdout, r.Stderr)
		}
		r := kubectlAs(t, alice, "run", "nope", "--image=nginx", "-n", "team-a")
		want := `Error from server (Forbidden): pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "team-a": abac: No policy matched.`
		if r.Err == nil || strings.TrimSpace(r.Stderr) != want {
			t.Errorf("alice create: %v\n%s\nwant %s", r.Err, r.Stderr, want)
		}
		_, err := clientFor(t, alice).CoreV1().Pods("team-a").Create(ctx, newPod("team-a", "nope"), metav1.CreateOptions{})
		wantStatus(t, err, http.StatusForbidden, `pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "team-a": abac: No policy matched.`)
		// A denied user still gets discovery, so kubectl shows a clean 403.
		if r := kubectlAs(t, bob, "get", "pods", "-n", "team-a"); !strings.Contains(r.Stderr, `Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "team-a": abac: No policy matched.`) {
			t.Errorf("bob list: %s", r.Stderr)
		}
	})

	t.Run("anonymous and wrong credentials", func(t *testing.T) {
		anon := clientFor(t, anonymous)
		_, err := anon.CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
		wantStatus(t, err, http.StatusForbidden, `pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "team-a": abac: No policy matched.`)
		if body, err := anon.Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx); err != nil || string(body) != "ok" {
			t.Errorf("anonymous /healthz: %v %s", err, body)
		}
		if err := anon.Discovery().RESTClient().Get().AbsPath("/api").Do(ctx).Error(); !apierrors.IsForbidden(err) {
			t.Errorf("anonymous /api: %v, want 403 (discovery is for authenticated users)", err)
		}
		_, err = clientFor(t, wrong).CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
		wantStatus(t, err, http.StatusUnauthorized, "Unauthorized")
		if err := clientFor(t, wrong).Discovery().RESTClient().Get().AbsPath("/healthz").Do(ctx).Error(); !apierrors.IsUnauthorized(err) {
			t.Errorf("wrong token /healthz: %v, want 401, never anonymous", err)
		}
	})

	t.Run("impersonation", func(t *testing.T) {
		if r := s.KubectlEnv(nil, "", "--as=alice", "get", "pods", "-n", "team-a", "-o", "name"); r.Err != nil || r.Stdout != "pod/existing\n" {
			t.Errorf("admin as alice: %v %q %s", r.Err, r.Stdout, r.Stderr)
		}
		if r := s.KubectlEnv(nil, "", "--as=alice", "run", "x", "--image=nginx", "-n", "team-a"); !strings.Contains(r.Stderr, `User "alice" cannot create resource "pods"`) {
			t.Errorf("admin as alice creating: %s", r.Stderr)
		}
		if r := kubectlAs(t, carol, "--as=bob", "--as-group=devs", "auth", "whoami"); !regexpMatch(`(?m)^Username\s+bob$`, r.Stdout) || !regexpMatch(`(?m)^Groups\s+\[devs system:authenticated\]$`, r.Stdout) {
			t.Errorf("carol as bob whoami: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
		}
		r := kubectlAs(t, alice, "--as=carol", "get", "pods", "-n", "team-a")
		// k8s.io/apiserver 1.37 checks the user-info impersonation permission
		// of authentication.k8s.io first, as kube-apiserver 1.37 does.
		if !strings.Contains(r.Stderr, `users.authentication.k8s.io "carol" is forbidden: User "alice" cannot impersonate:user-info resource "users" in API group "authentication.k8s.io" at the cluster scope: abac: No policy matched.`) {
			t.Errorf("alice as carol: %v %s", r.Err, r.Stderr)
		}
	})

	t.Run("audit records who", func(t *testing.T) {
		list := "/api/v1/namespaces/team-a/pods?limit=500"
		create := "/api/v1/namespaces/team-a/pods"
		complete := func(user, impersonated, verb, uri string, code int32, decision string) expect.Event {
			e := expect.Event{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: verb, RequestURI: uri, Code: code,
				User: user, ImpersonatedUser: impersonated, Resource: "pods", Namespace: "team-a", AuthorizeDecision: decision}
			if decision == "forbid" {
				e.Annotations = map[string]string{"authorization.k8s.io/reason": "abac: No policy matched."}
			}
			return e
		}
		want := []expect.Event{
			complete("alice", "", "list", list, 200, "allow"),
			complete("alice", "", "create", create+"?fieldManager=kubectl-run", 403, "forbid"),
			complete("bob", "", "list", list, 403, "forbid"),
			complete("system:anonymous", "", "list", "/api/v1/namespaces/team-a/pods", 403, "forbid"),
			complete("kubernetes-admin", "alice", "list", list, 200, "allow"),
			complete("kubernetes-admin", "alice", "create", create+"?fieldManager=kubectl-run", 403, "forbid"),
			// A failed authentication: kube records no user, only the 401, at ResponseStarted.
			{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseStarted, Verb: "list", RequestURI: "/api/v1/namespaces/team-a/pods", Code: 401,
				Resource: "pods", Namespace: "team-a"},
		}
		events := waitForEvents(t, logReader(s.log), want)
		var impersonationDenied, failedAuth bool
		for _, e := range events {
			if e.User.Username == "alice" && e.ImpersonatedUser == nil && e.ResponseStatus != nil && e.ResponseStatus.Code == 403 &&
				strings.Contains(e.ResponseStatus.Message, "cannot impersonate") {
				impersonationDenied = true
			}
			if e.ResponseStatus != nil && e.ResponseStatus.Code == 401 {
				failedAuth = true
				if e.ResponseStatus.Message != "Unauthorized" || e.ResponseStatus.Reason != metav1.StatusReasonUnauthorized || e.User.Username != "" || e.Stage != auditv1.StageResponseStarted {
					t.Errorf("failed authentication event: user %q message %q", e.User.Username, e.ResponseStatus.Message)
				}
			}
		}
		if !impersonationDenied || !failedAuth {
			t.Errorf("impersonation denial recorded: %t; failed authentication recorded: %t", impersonationDenied, failedAuth)
		}
	})
}

func TestPodSecurityAdmission(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [pods]}]\n- level: None\n"),
		"--audit-log-path="+log)
	ctx := context.Background()
	client := s.Client()
	for name, labels := range map[string]map[string]string{
		"locked": {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted"},
		"warned": {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"},
	} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	violations := `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`

	_, err := client.CoreV1().Pods("locked").Create(ctx, newPod("locked", "p"), metav1.CreateOptions{})
	wantStatus(t, err, http.StatusForbidden, `pods "p" is forbidden: violates PodSecurity "restricted:latest": `+violations)

	// Allowed with a warning where only warn is restricted.
	r := s.KubectlEnv(nil, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: warned\nspec:\n  containers:\n  - name: c\n    image: busybox\n", "create", "-f", "-")
	if r.Err != nil || !strings.Contains(r.Stderr, `Warning: would violate PodSecurity "restricted:latest": `+violations) {
		t.Errorf("warned namespace: %v\nstdout %s\nstderr %s", r.Err, r.Stdout, r.Stderr)
	}
	// A pod that meets restricted is admitted in the locked namespace.
	ok := newPod("locked", "ok")
	ok.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	ok.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	if _, err := client.CoreV1().Pods("locked").Create(ctx, ok, metav1.CreateOptions{}); err != nil {
		t.Errorf("compliant pod: %v", err)
	}

	want := []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", RequestURI: "/api/v1/namespaces/locked/pods", Code: 403,
			User: "kubernetes-admin", Resource: "pods", Namespace: "locked", Name: "p", AuthorizeDecision: "allow",
			Annotations: map[string]string{
				"pod-security.kubernetes.io/enforce-policy":   "restricted:latest",
				"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "restricted:latest": ` + violations,
			}},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", RequestURI: "/api/v1/namespaces/warned/pods?fieldManager=kubectl-create&fieldValidation=Strict", Code: 201,
			User: "kubernetes-admin", Resource: "pods", Namespace: "warned", Name: "p", AuthorizeDecision: "allow",
			Annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"}},
	}
	waitForEvents(t, logReader(log), want)
}

func restConfigFor(t *testing.T, kubeconfig string) (*rest.Config, error) {
	t.Helper()
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

func clientForConfig(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	return kubernetes.NewForConfigOrDie(cfg)
}
