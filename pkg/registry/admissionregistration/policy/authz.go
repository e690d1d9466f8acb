package policy

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// ParamAuthorizer is kube's check that whoever writes a policy with a
// paramKind may read every object of that kind, and whoever binds one with
// a paramRef may read what it refers to: a policy's params are read with
// the server's rights, so without it a policy could disclose what its
// author may not see. It follows kube's
// pkg/registry/admissionregistration/{validating,mutating}admissionpolicy{,binding}/authz.go.
// A zero ParamAuthorizer allows all.
type ParamAuthorizer struct {
	Authorizer authorizer.Authorizer
	// Mapper resolves a paramKind to its resource from the server's
	// discovery, as kube's resolver (pkg/registry/admissionregistration/resolver)
	// does.
	Mapper meta.RESTMapper
}

// scope is what a check is about: every group, version and resource
// unless kind parses and resolves.
func (a ParamAuthorizer) scope(kind *admissionregistrationv1.ParamKind) (group, version, resource string, parseErr, resolveErr error) {
	group, version, resource = "*", "*", "*"
	gv, parseErr := schema.ParseGroupVersion(kind.APIVersion)
	if parseErr != nil {
		return
	}
	group, version = gv.Group, gv.Version
	if mapping, err := a.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind.Kind}, gv.Version); err != nil {
		resolveErr = err
	} else {
		resource = mapping.Resource.Resource
	}
	return
}

// requester is the user a check is for, or nil for a member of
// system:masters, whom nothing is checked for.
func requester(ctx context.Context) (user.Info, bool, error) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, false, nil
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return nil, true, nil
		}
	}
	return u, false, nil
}

// paramKind checks a policy's paramKind (old is the stored one on update:
// an unchanged kind is not checked again). Its error is kube's, at
// spec.paramKind.
func (a ParamAuthorizer) paramKind(ctx context.Context, kind, old *admissionregistrationv1.ParamKind) field.ErrorList {
	if a.Authorizer == nil || kind == nil || (old != nil && *old == *kind) {
		return nil
	}
	u, super, _ := requester(ctx)
	if super {
		return nil
	}
	forbidden := func(err error) field.ErrorList {
		return field.ErrorList{field.Forbidden(field.NewPath("spec", "paramKind"), err.Error())}
	}
	if u == nil {
		return forbidden(fmt.Errorf("cannot identify user to authorize read access to paramKind resources"))
	}
	group, version, resource, _, _ := a.scope(kind)
	d, _, err := a.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: "get", ResourceRequest: true, Name: "*", Namespace: "*",
		APIGroup: group, APIVersion: version, Resource: resource})
	if err != nil {
		return forbidden(err)
	}
	if d != authorizer.DecisionAllow {
		return forbidden(fmt.Errorf(`user %v must have "get" permission on all objects of the referenced paramKind (kind=%s, apiVersion=%s)`, u, kind.Kind, kind.APIVersion))
	}
	return nil
}

// paramKindReader reads a policy's paramKind.
type paramKindReader func(ctx context.Context, policyName string) (*admissionregistrationv1.ParamKind, error)

// binding is what a binding's check needs: its policy's name and
// paramRef, and how to read the policy's paramKind.
type binding struct {
	policyName string
	ref        *admissionregistrationv1.ParamRef
	kindOf     paramKindReader
	// mutating: kube's MutatingAdmissionPolicyBinding check returns the
	// authorizer's error unwrapped and names verb and user the other way
	// round in its refusal; kept, as the messages are kube's.
	mutating bool
}

// paramRef checks a binding's paramRef (old is the stored binding on
// update: an unchanged paramRef and policy are not checked again). Its
// error is kube's, at spec.paramRef.
func (a ParamAuthorizer) paramRef(ctx context.Context, b binding, old *binding) field.ErrorList {
	if b.ref == nil || (old != nil && old.ref != nil && *old.ref == *b.ref && old.policyName == b.policyName) {
		return nil
	}
	forbidden := func(err error) field.ErrorList {
		return field.ErrorList{field.Forbidden(field.NewPath("spec", "paramRef"), err.Error())}
	}
	if a.Authorizer == nil {
		return nil
	}
	u, super, _ := requester(ctx)
	if super {
		return nil
	}
	if u == nil {
		return forbidden(fmt.Errorf("cannot identify user to authorize read access to paramRef object"))
	}
	group, version, resource := "*", "*", "*"
	kind, policyErr := b.kindOf(ctx, b.policyName)
	var parseErr, resolveErr error
	if policyErr == nil && kind != nil {
		group, version, resource, parseErr, resolveErr = a.scope(kind)
	}
	verb := "get"
	if b.ref.Name == "" {
		verb = "list"
	}
	d, _, err := a.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: verb, ResourceRequest: true,
		Name: b.ref.Name, Namespace: b.ref.Namespace, APIGroup: group, APIVersion: version, Resource: resource})
	switch {
	case err != nil && b.mutating:
		return forbidden(err)
	case err != nil:
		return forbidden(fmt.Errorf(`failed to authorize request: %w`, err))
	case d == authorizer.DecisionAllow:
		return nil
	case policyErr != nil:
		return forbidden(fmt.Errorf(`unable to get policy %s to determine minimum required permissions and user %v does not have "%v" permission for all groups, versions and resources`, b.policyName, u, verb))
	case parseErr != nil:
		return forbidden(fmt.Errorf(`unable to parse paramKind %v to determine minimum required permissions and user %v does not have "%v" permission for all groups, versions and resources`, kind, u, verb))
	case resolveErr != nil:
		return forbidden(fmt.Errorf(`unable to resolve paramKind %v to determine minimum required permissions and user %v does not have "%v" permission for all groups, versions and resources`, kind, u, verb))
	case b.mutating:
		return forbidden(fmt.Errorf(`user %v does not have "%v" permission on the object referenced by paramRef`, verb, u))
	}
	return forbidden(fmt.Errorf(`user %v does not have "%v" permission on the object referenced by paramRef`, u, verb))
}
