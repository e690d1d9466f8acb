package e2e

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/utils/ptr"

	jose "gopkg.in/go-jose/go-jose.v2"
	"gopkg.in/go-jose/go-jose.v2/jwt"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	satoken "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
)

// TestServiceAccountTokens: kubectl create token issues a TokenRequest
// token with kube's claims, signed by the key generated in the data
// directory; a request made with it is the service account, with kube's
// groups and extra, in the audit log as in kube's; what kube refuses is
// refused with kube's codes and messages.
func TestServiceAccountTokens(t *testing.T) {
	t.Parallel()
	log := t.TempDir() + "/audit.log"
	s := startServer(t, "--authorization-mode=Node,RBAC", "--service-account-max-token-expiration=2h",
		"--audit-policy-file="+writePolicy(t, auditEverything), "--audit-log-path="+log)
	admin := s.Client()
	ctx := context.Background()
	sa, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(s.Kubectl("create", "token", "builder"))
	as := func(token string) *kubernetes.Clientset {
		cfg := &rest.Config{Host: s.URL(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: s.RESTConfig().CAData}}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	whoami := func(token string) (*authenticationv1.SelfSubjectReview, error) {
		return as(token).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	}

	var jti string
	t.Run("claims", func(t *testing.T) {
		header, claims := jwtPart(t, token, 0), jwtPart(t, token, 1)
		if header["alg"] != "ES256" || header["typ"] != "JWT" || header["kid"] == "" {
			t.Errorf("header %v", header)
		}
		k8s, _ := claims["kubernetes.io"].(map[string]interface{})
		svcacct, _ := k8s["serviceaccount"].(map[string]interface{})
		aud, _ := claims["aud"].([]interface{})
		exp, _ := claims["exp"].(float64)
		iat, _ := claims["iat"].(float64)
		jti, _ = claims["jti"].(string)
		if claims["iss"] != satoken.DefaultIssuer || claims["sub"] != "system:serviceaccount:default:builder" || len(aud) != 1 || aud[0] != satoken.DefaultIssuer ||
			exp-iat != 3600 || claims["nbf"] != claims["iat"] || jti == "" || k8s["namespace"] != "default" || svcacct["name"] != "builder" || svcacct["uid"] != string(sa.UID) {
			t.Errorf("claims %v", claims)
		}
	})

	t.Run("authenticated as the service account", func(t *testing.T) {
		r := runKubectl(t, tokenKubeconfig(t, s, token), nil, "", "auth", "whoami")
		want := "ATTRIBUTE                                           VALUE\n" +
			"Username                                            system:serviceaccount:default:builder\n" +
			"UID                                                 " + string(sa.UID) + "\n" +
			"Groups                                              [system:serviceaccounts system:serviceaccounts:default system:authenticated]\n" +
			"Extra: authentication.kubernetes.io/credential-id   [JTI=" + jti + "]\n"
		if r.Err != nil || r.Stdout != want {
			t.Errorf("kubectl auth whoami with the token: %v\n%s%s\nwant\n%s", r.Err, r.Stdout, r.Stderr, want)
		}
		_, err := as(token).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		wantStatus(t, err, http.StatusForbidden, `pods is forbidden: User "system:serviceaccount:default:builder" cannot list resource "pods" in API group "" in the namespace "default"`)
	})

	t.Run("verified outside the server with the discovery documents", func(t *testing.T) {
		// Any service account may read them (kube's system:service-account-issuer-discovery).
		raw, err := as(token).RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var config struct {
			Issuer      string   `json:"issuer"`
			JWKSURI     string   `json:"jwks_uri"`
			Algs        []string `json:"id_token_signing_alg_values_supported"`
			Responses   []string `json:"response_types_supported"`
			SubjectType []string `json:"subject_types_supported"`
		}
		if err := json.Unmarshal(raw, &config); err != nil || config.Issuer != satoken.DefaultIssuer || config.JWKSURI != s.URL()+"/openid/v1/jwks" ||
			strings.Join(config.Algs, ",") != "ES256" || strings.Join(config.Responses, ",") != "id_token" || strings.Join(config.SubjectType, ",") != "public" {
			t.Errorf("openid-configuration: %v %s", err, raw)
		}
		raw, err = as(token).RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys jose.JSONWebKeySet
		if err := json.Unmarshal(raw, &keys); err != nil || len(keys.Keys) != 1 {
			t.Fatalf("jwks: %v %s", err, raw)
		}
		key := keys.Keys[0]
		if key.KeyID != jwtPart(t, token, 0)["kid"] || key.Use != "sig" || key.Algorithm != "ES256" {
			t.Errorf("jwks key %+v", key)
		}
		parsed, err := jwt.ParseSigned(token)
		if err != nil {
			t.Fatal(err)
		}
		var claims jwt.Claims
		if err := parsed.Claims(key.Key, &claims); err != nil || claims.Subject != "system:serviceaccount:default:builder" {
			t.Errorf("the token verified with the published key: %v %+v", err, claims)
		}
	})

	t.Run("bound to a pod", func(t *testing.T) {
		p := newPod("default", "runner")
		p.Spec.ServiceAccountName = "builder"
		pod, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "runner"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		review, err := whoami(tr.Status.Token)
		if err != nil {
			t.Fatal(err)
		}
		if extra := review.Status.UserInfo.Extra; len(extra["authentication.kubernetes.io/pod-name"]) != 1 || extra["authentication.kubernetes.io/pod-name"][0] != "runner" ||
			extra["authentication.kubernetes.io/pod-uid"][0] != string(pod.UID) {
			t.Errorf("bound token's extra: %v", extra)
		}
		if err := admin.CoreV1().Pods("default").Delete(ctx, "runner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, waitShort, "the token of a deleted pod to be refused", func() (bool, error) {
			_, err := whoami(tr.Status.Token)
			return err != nil && strings.Contains(err.Error(), "Unauthorized"), nil
		})
		_, err = admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "runner"}}}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusNotFound, `pods "runner" not found`)
	})

	t.Run("bad input", func(t *testing.T) {
		_, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusNotFound, `serviceaccounts "nobody" not found`)
		_, err = admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes`)
		r := s.KubectlEnv(nil, "", "create", "token", "builder", "--duration=48h")
		if r.Err != nil || !strings.Contains(r.Stderr, "Warning: requested expiration of 172800 seconds shortened to 7200 seconds") {
			t.Errorf("over --service-account-max-token-expiration: %v\n%s", r.Err, r.Stderr)
		} else if c := jwtPart(t, strings.TrimSpace(r.Stdout), 1); c["exp"].(float64)-c["iat"].(float64) != 7200 {
			t.Errorf("shortened token lives %v s", c["exp"].(float64)-c["iat"].(float64))
		}
		other := strings.TrimSpace(s.Kubectl("create", "token", "builder", "--audience=other"))
		key, err := keyutil.PrivateKeyFromFile(filepath.Join(s.DataDir(), "pki", "sa.key"))
		if err != nil {
			t.Fatal(err)
		}
		gen, err := satoken.NewGenerator(satoken.DefaultIssuer, key.(crypto.Signer))
		if err != nil {
			t.Fatal(err)
		}
		expired, err := gen.Generate(satoken.Claims(sa, nil, nil, -3600, 0, []string{satoken.DefaultIssuer}))
		if err != nil {
			t.Fatal(err)
		}
		strangerPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := keyutil.ParsePrivateKeyPEM(strangerPEM)
		if err != nil {
			t.Fatal(err)
		}
		foreignGen, err := satoken.NewGenerator(satoken.DefaultIssuer, stranger.(crypto.Signer))
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := foreignGen.Generate(satoken.Claims(sa, nil, nil, 3600, 0, []string{satoken.DefaultIssuer}))
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"another audience": other, "expired": expired, "signed by another key": foreign} {
			if _, err := whoami(tok); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
				t.Errorf("token %s: %v, want 401", name, err)
			}
		}
		if err := admin.CoreV1().ServiceAccounts("default").Delete(ctx, "builder", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, waitShort, "the token of a deleted service account to be refused", func() (bool, error) {
			_, err := whoami(token)
			return err != nil && strings.Contains(err.Error(), "Unauthorized"), nil
		})
	})

	events := waitForEvents(t, logReader(log), []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 201, User: "kubernetes-admin",
			Resource: "serviceaccounts", Subresource: "token", Namespace: "default", Name: "builder", AuthorizeDecision: "allow",
			RequestURI: "/api/v1/namespaces/default/serviceaccounts/builder/token", Annotations: map[string]string{"authentication.kubernetes.io/issued-credential-id": "JTI=" + jti}},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "list", Code: 403, User: "system:serviceaccount:default:builder",
			Resource: "pods", Namespace: "default", AuthorizeDecision: "forbid", RequestURI: "/api/v1/namespaces/default/pods"},
		// A refused token: one event, at ResponseStarted, as kube writes it.
	})
	for _, e := range events {
		if e.User.Username == "system:serviceaccount:default:builder" && e.Verb == "list" {
			if got := e.User.Extra["authentication.kubernetes.io/credential-id"]; len(got) != 1 || got[0] != "JTI="+jti ||
				strings.Join(e.User.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:default,system:authenticated" || e.User.UID != string(sa.UID) {
				t.Errorf("the token's user in the audit event: %+v", e.User)
			}
		}
	}
}

// jwtPart decodes part i (0 header, 1 claims) of a JWT.
func jwtPart(t *testing.T, token string, i int) map[string]interface{} {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// tokenKubeconfig is a kubeconfig of s with token as its only credential.
func tokenKubeconfig(t *testing.T, s *apiServer, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token.kubeconfig")
	ca := base64.StdEncoding.EncodeToString(s.RESTConfig().CAData)
	config := "apiVersion: v1\nkind: Config\nclusters: [{name: s, cluster: {server: \"" + s.URL() + "\", certificate-authority-data: " + ca + "}}]\n" +
		"users: [{name: u, user: {token: \"" + token + "\"}}]\ncontexts: [{name: c, context: {cluster: s, user: u}}]\ncurrent-context: c\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
