package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/authorization/union"

	"github.com/mini-apiserver/mini-apiserver/pkg/auth/abac"
)

// Authorization modes, named as kube-apiserver's --authorization-mode values.
const (
	ModeAlwaysAllow = "AlwaysAllow"
	ModeAlwaysDeny  = "AlwaysDeny"
	ModeABAC        = "ABAC"
)

// SupportedModes are the --authorization-mode values mini-apiserver honours.
var SupportedModes = []string{ModeAlwaysAllow, ModeAlwaysDeny, ModeABAC}

// AuthorizationOptions are kube-apiserver's authorization flags that
// mini-apiserver supports.
type AuthorizationOptions struct {
	Modes      []string
	PolicyFile string
}

// NewAuthorizationOptions returns kube-apiserver's default: AlwaysAllow.
func NewAuthorizationOptions() *AuthorizationOptions {
	return &AuthorizationOptions{Modes: []string{ModeAlwaysAllow}}
}

// AddFlags adds the flags with kube-apiserver's names.
func (o *AuthorizationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Modes, "authorization-mode", o.Modes, ""+
		"Ordered list of plug-ins to do authorization on secure port. Allowed values: "+strings.Join(SupportedModes, ", ")+".")
	fs.StringVar(&o.PolicyFile, "authorization-policy-file", o.PolicyFile, ""+
		"File with authorization policy in json line by line format, used with --authorization-mode=ABAC, on the secure port.")
}

// Validate checks the modes and loads the ABAC policy file.
func (o *AuthorizationOptions) Validate() []error {
	if err := ValidateModes(o.Modes); err != nil {
		return []error{err}
	}
	var errs []error
	abacMode := sets.New(o.Modes...).Has(ModeABAC)
	switch {
	case abacMode && o.PolicyFile == "":
		errs = append(errs, errors.New("authorization-mode ABAC's authorization policy file not passed"))
	case !abacMode && o.PolicyFile != "":
		errs = append(errs, errors.New("cannot specify --authorization-policy-file without mode ABAC"))
	case abacMode:
		if _, err := abac.NewFromFile(o.PolicyFile); err != nil {
			errs = append(errs, fmt.Errorf("--authorization-policy-file: %w", err))
		}
	}
	return errs
}

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

// New chains, in order: the system:masters group (always allowed, as in
// kube), the server's own controllers, what kube's bootstrap roles grant
// everyone (system:public-info-viewer: health and version) and every
// authenticated user (system:discovery: discovery and OpenAPI;
// system:basic-user: self reviews), then the configured modes.
func (o *AuthorizationOptions) New(controllerUsers ...string) (authorizer.Authorizer, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, errs[0]
	}
	chain := []union.NamedAuthorizer{
		{AuthorizerName: "system:masters", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)},
		{AuthorizerName: "controllers", Authorizer: authorizer.AuthorizerFunc(usersAuthorizer(sets.New(controllerUsers...)).Authorize)},
		{AuthorizerName: "bootstrap-roles", Authorizer: authorizer.AuthorizerFunc(authorizeBootstrapRoles)},
	}
	for _, m := range o.Modes {
		switch m {
		case ModeAlwaysAllow:
			chain = append(chain, union.NamedAuthorizer{AuthorizerName: m, Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer()})
		case ModeAlwaysDeny:
			chain = append(chain, union.NamedAuthorizer{AuthorizerName: m, Authorizer: authorizerfactory.NewAlwaysDenyAuthorizer()})
		case ModeABAC:
			policies, err := abac.NewFromFile(o.PolicyFile)
			if err != nil {
				return nil, fmt.Errorf("--authorization-policy-file: %w", err)
			}
			chain = append(chain, union.NamedAuthorizer{AuthorizerName: m, Authorizer: authorizer.AuthorizerFunc(policies.Authorize)})
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

// publicInfoPaths are system:public-info-viewer's, granted to everyone.
var publicInfoPaths = []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}

// discoveryPaths are system:discovery's, granted to authenticated users.
var discoveryPaths = []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/"}

// selfReviews are system:basic-user's: every authenticated user may ask who
// they are and what they may do.
var selfReviews = map[string]sets.Set[string]{
	"authentication.k8s.io": sets.New("selfsubjectreviews"),
	"authorization.k8s.io":  sets.New("selfsubjectaccessreviews", "selfsubjectrulesreviews"),
}

func authorizeBootstrapRoles(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser() == nil {
		return authorizer.DecisionNoOpinion, "", nil
	}
	authenticated := sets.New(a.GetUser().GetGroups()...).Has(user.AllAuthenticated)
	if a.IsResourceRequest() {
		if authenticated && a.GetVerb() == "create" && selfReviews[a.GetAPIGroup()].Has(a.GetResource()) {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	}
	if a.GetVerb() != "get" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	paths := publicInfoPaths
	if authenticated {
		paths = append(append([]string{}, publicInfoPaths...), discoveryPaths...)
	}
	for _, p := range paths {
		if p == a.GetPath() || (strings.HasSuffix(p, "*") && strings.HasPrefix(a.GetPath(), strings.TrimSuffix(p, "*"))) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}
