package auth

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/authorization/union"
)

// Authorization modes, named as kube-apiserver's --authorization-mode values.
const (
	ModeAlwaysAllow = "AlwaysAllow"
	ModeAlwaysDeny  = "AlwaysDeny"
)

// SupportedModes are the --authorization-mode values mini-apiserver honours.
var SupportedModes = []string{ModeAlwaysAllow, ModeAlwaysDeny}

// ValidateModes checks an --authorization-mode list.
func ValidateModes(modes []string) error {
	if len(modes) == 0 {
		return fmt.Errorf("--authorization-mode: at least one authorization mode must be given; supported modes: %s", strings.Join(SupportedModes, ","))
	}
	seen := sets.New[string]()
	for _, m := range modes {
		if !sets.New(SupportedModes...).Has(m) {
			return fmt.Errorf("--authorization-mode: unsupported authorization mode %q; supported modes: %s", m, strings.Join(SupportedModes, ","))
		}
		if seen.Has(m) {
			return fmt.Errorf("--authorization-mode: authorization mode %q specified more than once", m)
		}
		seen.Insert(m)
	}
	return nil
}

// NewAuthorizer chains, in order: the system:masters group (always allowed,
// as in kube), the server's own controllers, the discovery and health
// endpoints for any authenticated user (kube's system:discovery and
// system:public-info-viewer roles), then the configured modes.
func NewAuthorizer(modes []string, controllerUsers ...string) (authorizer.Authorizer, error) {
	if err := ValidateModes(modes); err != nil {
		return nil, err
	}
	chain := []union.NamedAuthorizer{
		{AuthorizerName: "system:masters", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)},
		{AuthorizerName: "controllers", Authorizer: authorizer.AuthorizerFunc(usersAuthorizer(sets.New(controllerUsers...)).Authorize)},
		{AuthorizerName: "discovery", Authorizer: authorizer.AuthorizerFunc(authorizeDiscovery)},
	}
	for _, m := range modes {
		switch m {
		case ModeAlwaysAllow:
			chain = append(chain, union.NamedAuthorizer{AuthorizerName: m, Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer()})
		case ModeAlwaysDeny:
			chain = append(chain, union.NamedAuthorizer{AuthorizerName: m, Authorizer: authorizerfactory.NewAlwaysDenyAuthorizer()})
		}
	}
	return union.New(chain...)
}

type usersAuthorizer sets.Set[string]

func (u usersAuthorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser() != nil && sets.Set[string](u).Has(a.GetUser().GetName()) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// discoveryPaths are the non-resource URLs kube's bootstrap roles
// system:discovery and system:public-info-viewer grant to every
// authenticated user.
var discoveryPaths = []string{
	"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/",
	"/healthz", "/livez", "/readyz",
}

func authorizeDiscovery(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.IsResourceRequest() || a.GetVerb() != "get" || a.GetUser() == nil ||
		!sets.New(a.GetUser().GetGroups()...).Has(user.AllAuthenticated) {
		return authorizer.DecisionNoOpinion, "", nil
	}
	for _, p := range discoveryPaths {
		if p == a.GetPath() || (strings.HasSuffix(p, "*") && strings.HasPrefix(a.GetPath(), strings.TrimSuffix(p, "*"))) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}
