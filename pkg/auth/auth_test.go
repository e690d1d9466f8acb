package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestGarbageClientCAIsRefused(t *testing.T) {
	if _, _, err := NewAuthenticationOptions().New([]byte("not a certificate")); err == nil {
		t.Errorf("garbage CA accepted")
	}
}

func TestAuthorizer(t *testing.T) {
	ctx := context.Background()
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}}
	admin := &user.DefaultInfo{Name: "root", Groups: []string{user.SystemPrivilegedGroup}}
	controller := &user.DefaultInfo{Name: "ctrl"}
	pods := func(u user.Info) authorizer.Attributes {
		return authorizer.AttributesRecord{User: u, Verb: "create", Resource: "pods", Namespace: "default", ResourceRequest: true}
	}
	discovery := authorizer.AttributesRecord{User: alice, Verb: "get", Path: "/apis/apps/v1"}

	deny, _, err := (&AuthorizationOptions{Modes: []string{ModeAlwaysDeny}}).New(nil, "ctrl")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		attrs authorizer.Attributes
		want  authorizer.Decision
	}{
		// kube's AlwaysDeny answers NoOpinion ("Everything is forbidden."): nothing allows the request, so it is refused with 403.
		"user denied":        {pods(alice), authorizer.DecisionNoOpinion},
		"system:masters":     {pods(admin), authorizer.DecisionAllow},
		"controller":         {pods(controller), authorizer.DecisionAllow},
		"discovery":          {discovery, authorizer.DecisionAllow},
		"other non-resource": {authorizer.AttributesRecord{User: alice, Verb: "get", Path: "/metrics"}, authorizer.DecisionNoOpinion},
	} {
		if got, _, _ := deny.Authorize(ctx, tc.attrs); got != tc.want {
			t.Errorf("AlwaysDeny, %s: %v, want %v", name, got, tc.want)
		}
	}
	allow, _, err := NewAuthorizationOptions().New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := allow.Authorize(ctx, pods(alice)); got != authorizer.DecisionAllow {
		t.Errorf("AlwaysAllow: %v", got)
	}
}

func TestValidateModes(t *testing.T) {
	for modes, want := range map[string]string{
		"":                        "--authorization-mode: at least one authorization mode must be given; supported modes: AlwaysAllow,AlwaysDeny,ABAC,RBAC,Node",
		"Rbac":                    `--authorization-mode: unsupported authorization mode "Rbac"; supported modes: AlwaysAllow,AlwaysDeny,ABAC,RBAC,Node`,
		"Node,Webhook":            `--authorization-mode: authorization mode "Webhook" is not supported: mini-apiserver has no authorization webhook; supported modes: AlwaysAllow,AlwaysDeny,ABAC,RBAC,Node`,
		"AlwaysAllow,AlwaysAllow": `--authorization-mode: authorization mode "AlwaysAllow" specified more than once`,
	} {
		var list []string
		if modes != "" {
			list = splitComma(modes)
		}
		if err := ValidateModes(list); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", modes, err, want)
		}
	}
	for _, valid := range [][]string{{ModeAlwaysDeny, ModeAlwaysAllow}, {ModeNode, ModeRBAC}, {ModeABAC, ModeRBAC}} {
		if err := ValidateModes(valid); err != nil {
			t.Errorf("valid modes %v: %v", valid, err)
		}
	}
}

func splitComma(s string) []string { return strings.Split(s, ",") }

func TestTokenFileErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, want string }{
		"too few columns": {"t1,alice,1\nt2,bob\n", "line 2: want at least 3 columns"},
		"bad quoting":     {"t1,alice,1,\"a,b\nt2\n", "extraneous or missing \" in quoted-field"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		errs := (&AuthenticationOptions{TokenAuthFile: p}).Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) || !strings.Contains(errs[0].Error(), p) {
			t.Errorf("%s: %v", name, errs)
		}
	}
}

func TestAnonymousIsOffWithAlwaysAllow(t *testing.T) {
	o := NewAuthenticationOptions()
	o.ApplyAuthorization([]string{ModeABAC})
	if !o.Anonymous {
		t.Errorf("anonymous turned off for ABAC")
	}
	o.ApplyAuthorization([]string{ModeABAC, ModeAlwaysAllow})
	if o.Anonymous {
		t.Errorf("anonymous left on with AlwaysAllow")
	}
}

// Bearer tokens are checked as kube-apiserver checks them: the token file
// and the other authenticators in one union behind a cache that keeps
// successes (so a service-account token is verified once per 10 s), never
// failures; and a WebSocket client may send its token as a subprotocol.
func TestBearerTokens(t *testing.T) {
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(file, []byte("static-token,alice,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checks := map[string]int{}
	serviceAccounts := authenticator.TokenFunc(func(_ context.Context, token string) (*authenticator.Response, bool, error) {
		checks[token]++
		if token != "sa-token" {
			return nil, false, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: "system:serviceaccount:default:builder"}}, true, nil
	})
	o := NewAuthenticationOptions()
	o.TokenAuthFile = file
	o.Anonymous = false
	authn, _, err := o.New(ca.CertPEM, serviceAccounts)
	if err != nil {
		t.Fatal(err)
	}
	who := func(header http.Header) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/api", nil)
		maps.Copy(req.Header, header)
		resp, ok, err := authn.AuthenticateRequest(req)
		if err != nil || !ok {
			return fmt.Sprintf("refused (%v)", err)
		}
		return resp.User.GetName()
	}
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	for range 3 {
		if got := who(bearer("sa-token")); got != "system:serviceaccount:default:builder" {
			t.Errorf("service-account token: %s", got)
		}
		if got := who(bearer("wrong")); !strings.HasPrefix(got, "refused") {
			t.Errorf("wrong token: %s", got)
		}
	}
	if checks["sa-token"] != 1 || checks["wrong"] != 3 {
		t.Errorf("checks %v: want the good token checked once and the wrong one each time", checks)
	}
	if got := who(bearer("static-token")); got != "alice" {
		t.Errorf("token file: %s", got)
	}
	ws := http.Header{
		"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Protocol": {"v5.channel.k8s.io, base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("static-token"))},
	}
	if got := who(ws); got != "alice" {
		t.Errorf("WebSocket subprotocol token: %s", got)
	}
}
