package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/authorization/path"
	"k8s.io/apiserver/pkg/authorization/union"
	rbacinformers "k8s.io/client-go/informers/rbac/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/auth/abac"
	"github.com/mini-apiserver/mini-apiserver/pkg/auth/rbac"
)

// Authorization modes, named as kube-apiserver's --authorization-mode values.
const (
	ModeAlwaysAllow = "AlwaysAllow"
	ModeAlwaysDeny  = "AlwaysDeny"
	ModeABAC        = "ABAC"
	ModeRBAC        = "RBAC"
	// ModeNode is accepted so that kubeadm's Node,RBAC starts: there are no
	// nodes here, so the Node authorizer has no opinion on anything.
	ModeNode = "Node"
)

// SupportedModes are the --authorization-mode values mini-apiserver honours.
var SupportedModes = []string{ModeAlwaysAllow, ModeAlwaysDeny, ModeABAC, ModeRBAC, ModeNode}

// refusedModes are kube's modes mini-apiserver does not have, with why.
var refusedModes = map[string]string{
	"Webhook": "mini-apiserver has no authorization webhook",
}

// AuthorizationOptions are kube-apiserver's authorization flags that
// mini-apiserver supports.
type AuthorizationOptions struct {
	Modes      []string
	PolicyFile string

	// abac is --authorization-policy-file, parsed once (by Validate or New).
	abac       abac.PolicyList
	abacErr    error
	abacParsed bool
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
		if _, err := o.abacPolicy(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// abacPolicy parses --authorization-policy-file the first time it is asked.
func (o *AuthorizationOptions) abacPolicy() (abac.PolicyList, error) {
	if !o.abacParsed {
		o.abacParsed = true
		if o.abac, o.abacErr = abac.NewFromFile(o.PolicyFile); o.abacErr != nil {
			o.abacErr = fmt.Errorf("--authorization-policy-file: %w", o.abacErr)
		}
	}
	return o.abac, o.abacErr
}

// ValidateModes checks an --authorization-mode list.
func ValidateModes(modes []string) error {
	if len(modes) == 0 {
		return fmt.Errorf("--authorization-mode: at least one authorization mode must be given; supported modes: %s", strings.Join(SupportedModes, ","))
	}
	seen := sets.New[string]()
	for _, m := range modes {
		if why, ok := refusedModes[m]; ok {
			return fmt.Errorf("--authorization-mode: authorization mode %q is not supported: %s; supported modes: %s", m, why, strings.Join(SupportedModes, ","))
		}
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
// kube), the server's own controllers, then the configured modes, each
// named as kube names it (the mode in lower case), so that a reason reads
// as kube's ("abac: No policy matched."). Without RBAC, what kube's
// bootstrap roles grant comes before the modes: get on health and version
// for everyone (system:public-info-viewer), discovery and OpenAPI
// (system:discovery) and self reviews (system:basic-user) for every
// authenticated user. With RBAC those roles are RBAC objects, and RBAC
// grants them with its own reasons. rbacInformers is read only with RBAC.
func (o *AuthorizationOptions) New(rbacInformers rbacinformers.Interface, controllerUsers ...string) (authorizer.Authorizer, authorizer.RuleResolver, error) {
	if err := ValidateModes(o.Modes); err != nil {
		return nil, nil, err
	}
	chain := []union.NamedAuthorizer{
		{AuthorizerName: "kubernetes.io/system-privileged-group", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)},
		{AuthorizerName: "controllers", Authorizer: authorizer.AuthorizerFunc(usersAuthorizer(sets.New(controllerUsers...)).Authorize)},
	}
	var resolvers []authorizer.RuleResolver
	if !slices.Contains(o.Modes, ModeRBAC) {
		bootstrap, err := newBootstrapRolesAuthorizer()
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, union.NamedAuthorizer{AuthorizerName: "bootstrap-roles", Authorizer: bootstrap})
	}
	for _, m := range o.Modes {
		var a authorizer.Authorizer
		switch m {
		case ModeAlwaysAllow:
			allow := authorizerfactory.NewAlwaysAllowAuthorizer()
			a, resolvers = allow, append(resolvers, allow)
		case ModeAlwaysDeny:
			deny := authorizerfactory.NewAlwaysDenyAuthorizer()
			a, resolvers = deny, append(resolvers, deny)
		case ModeABAC:
			policies, err := o.abacPolicy()
			if err != nil {
				return nil, nil, err
			}
			a = authorizer.AuthorizerFunc(policies.Authorize)
		case ModeRBAC:
			r := rbac.New(rbacInformers)
			a, resolvers = r, append(resolvers, r)
		case ModeNode:
			a = authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
				return authorizer.DecisionNoOpinion, "", nil
			})
		}
		chain = append(chain, union.NamedAuthorizer{AuthorizerName: strings.ToLower(m), Authorizer: a})
	}
	authz, err := union.New(chain...)
	if err != nil {
		return nil, nil, err
	}
	return authz, unionRuleResolvers(resolvers), nil
}

// unionRuleResolvers answers SelfSubjectRulesReview from every mode that
// can list rules, as kube's union rule resolver.
type unionRuleResolvers []authorizer.RuleResolver

func (u unionRuleResolvers) RulesFor(ctx context.Context, user user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	var resourceRules []authorizer.ResourceRuleInfo
	var nonResourceRules []authorizer.NonResourceRuleInfo
	incomplete := len(u) == 0
	var errs []error
	for _, r := range u {
		rr, nr, inc, err := r.RulesFor(ctx, user, namespace)
		resourceRules, nonResourceRules = append(resourceRules, rr...), append(nonResourceRules, nr...)
		incomplete = incomplete || inc
		if err != nil {
			errs = append(errs, err)
		}
	}
	return resourceRules, nonResourceRules, incomplete, errors.Join(errs...)
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

// newBootstrapRolesAuthorizer grants what kube's bootstrap roles grant
// without RBAC: get on the public-info paths to everyone, get on discovery
// paths and create on self reviews to authenticated users. The path matching
// is the library's (k8s.io/apiserver/pkg/authorization/path).
func newBootstrapRolesAuthorizer() (authorizer.Authorizer, error) {
	public, err := path.NewAuthorizer(publicInfoPaths)
	if err != nil {
		return nil, err
	}
	discovery, err := path.NewAuthorizer(append(slices.Clone(publicInfoPaths), discoveryPaths...))
	if err != nil {
		return nil, err
	}
	return authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser() == nil {
			return authorizer.DecisionNoOpinion, "", nil
		}
		authenticated := slices.Contains(a.GetUser().GetGroups(), user.AllAuthenticated)
		switch {
		case a.IsResourceRequest():
			if authenticated && a.GetVerb() == "create" && selfReviews[a.GetAPIGroup()].Has(a.GetResource()) {
				return authorizer.DecisionAllow, "", nil
			}
			return authorizer.DecisionNoOpinion, "", nil
		case a.GetVerb() != "get":
			return authorizer.DecisionNoOpinion, "", nil
		case authenticated:
			return discovery.Authorize(ctx, a)
		default:
			return public.Authorize(ctx, a)
		}
	}), nil
}
