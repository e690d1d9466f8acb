package rbac

import (
	"context"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	rbacauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/rbac"
)

// This file follows k8s.io/kubernetes pkg/registry/rbac/escalation_check.go,
// helpers.go and the four */policybased/storage.go.

// EscalationCheck serves a role or binding store, refusing a create or
// update that would grant what the requesting user does not hold: a role's
// rules (unless the user may "escalate" roles), a binding's role (unless
// the user may "bind" it). system:masters may do anything.
type EscalationCheck struct {
	*genericregistry.Store
	Authorizer authorizer.Authorizer
	Resolver   *rbacauth.Resolver
}

var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
	{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
}

// Create checks obj, then creates it.
func (s *EscalationCheck) Create(ctx context.Context, obj runtime.Object, validate rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	if err := s.check(ctx, obj, nil); err != nil {
		return nil, err
	}
	return s.Store.Create(ctx, obj, validate, options)
}

// Update checks the updated object, then stores it.
func (s *EscalationCheck) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	checked := rest.WrapUpdatedObjectInfo(objInfo, func(ctx context.Context, obj, old runtime.Object) (runtime.Object, error) {
		if onlyMutatingGCFields(obj, old) {
			return obj, nil
		}
		return obj, s.check(ctx, obj, old)
	})
	return s.Store.Update(ctx, name, checked, createValidation, updateValidation, forceAllowCreate, options)
}

func (s *EscalationCheck) check(ctx context.Context, obj, old runtime.Object) error {
	if escalationAllowed(ctx) {
		return nil
	}
	name := ""
	if m, err := meta.Accessor(obj); err == nil {
		name = m.GetName()
	}
	resource := s.DefaultQualifiedResource
	switch o := obj.(type) {
	case *rbacv1.Role:
		if s.escalateAuthorized(ctx) {
			return nil
		}
		return forbidden(resource, name, s.Resolver.ConfirmNoEscalation(ctx, o.Rules))
	case *rbacv1.ClusterRole:
		if s.escalateAuthorized(ctx) {
			return nil
		}
		if err := s.Resolver.ConfirmNoEscalation(ctx, o.Rules); err != nil {
			return forbidden(resource, name, err)
		}
		// An aggregation rule can gather anything: it takes * on *.
		oldRole, _ := old.(*rbacv1.ClusterRole)
		if hasAggregationRule(o) || (oldRole != nil && hasAggregationRule(oldRole)) {
			if err := s.Resolver.ConfirmNoEscalation(ctx, fullAuthority); err != nil {
				return forbidden(resource, name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
			}
		}
		return nil
	case *rbacv1.RoleBinding:
		namespace, ok := genericapirequest.NamespaceFrom(ctx)
		if !ok {
			return apierrors.NewBadRequest("namespace is required")
		}
		return s.checkBinding(ctx, resource, name, o.RoleRef, namespace)
	case *rbacv1.ClusterRoleBinding:
		return s.checkBinding(ctx, resource, name, o.RoleRef, "")
	}
	return fmt.Errorf("escalation check: unexpected %T", obj)
}

// checkBinding allows a binding to a role the user may "bind" or whose
// rules the user holds.
func (s *EscalationCheck) checkBinding(ctx context.Context, resource schema.GroupResource, name string, ref rbacv1.RoleRef, namespace string) error {
	if s.bindAuthorized(ctx, ref, namespace) {
		return nil
	}
	rules, err := s.Resolver.RoleRefRules(ctx, ref, namespace)
	if err != nil {
		return err
	}
	return forbidden(resource, name, s.Resolver.ConfirmNoEscalation(ctx, rules))
}

func forbidden(resource schema.GroupResource, name string, err error) error {
	if err == nil {
		return nil
	}
	return apierrors.NewForbidden(resource, name, err)
}

func escalationAllowed(ctx context.Context) bool {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return false
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return true
		}
	}
	return false
}

// escalateAuthorized says whether the user may "escalate" the role being
// written.
func (s *EscalationCheck) escalateAuthorized(ctx context.Context) bool {
	u, ok := genericapirequest.UserFrom(ctx)
	info, ok2 := genericapirequest.RequestInfoFrom(ctx)
	if !ok || !ok2 || !info.IsResourceRequest || s.Authorizer == nil {
		return false
	}
	return s.allowed(ctx, authorizer.AttributesRecord{User: u, Verb: "escalate", APIGroup: info.APIGroup, APIVersion: "*",
		Resource: info.Resource, Name: info.Name, Namespace: info.Namespace, ResourceRequest: true})
}

// bindAuthorized says whether the user may "bind" the role ref names.
func (s *EscalationCheck) bindAuthorized(ctx context.Context, ref rbacv1.RoleRef, namespace string) bool {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok || s.Authorizer == nil {
		return false
	}
	attrs := authorizer.AttributesRecord{User: u, Verb: "bind", Namespace: namespace, ResourceRequest: true,
		APIGroup: ref.APIGroup, APIVersion: "*", Name: ref.Name}
	switch ref.Kind {
	case "ClusterRole":
		attrs.Resource = "clusterroles"
	case "Role":
		attrs.Resource = "roles"
	default:
		return false
	}
	return s.allowed(ctx, attrs)
}

func (s *EscalationCheck) allowed(ctx context.Context, attrs authorizer.AttributesRecord) bool {
	decision, _, err := s.Authorizer.Authorize(ctx, attrs)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("error authorizing user %q to %s %s %q in namespace %q: %w",
			attrs.User.GetName(), attrs.Verb, attrs.Resource, attrs.Name, attrs.Namespace, err))
	}
	return decision == authorizer.DecisionAllow
}

func hasAggregationRule(r *rbacv1.ClusterRole) bool {
	return r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0
}

// onlyMutatingGCFields says whether an update changes only what the
// garbage collector changes (owner references, finalizers), which needs
// no escalation check.
func onlyMutatingGCFields(obj, old runtime.Object) bool {
	if old == nil {
		return false
	}
	copied := obj.DeepCopyObject()
	copiedMeta, err := meta.Accessor(copied)
	if err != nil {
		return false
	}
	oldMeta, err := meta.Accessor(old)
	if err != nil {
		return false
	}
	copiedMeta.SetOwnerReferences(oldMeta.GetOwnerReferences())
	copiedMeta.SetFinalizers(oldMeta.GetFinalizers())
	copiedMeta.SetSelfLink(oldMeta.GetSelfLink())
	copiedMeta.SetManagedFields(oldMeta.GetManagedFields())
	return equality.Semantic.DeepEqual(copied, old)
}
