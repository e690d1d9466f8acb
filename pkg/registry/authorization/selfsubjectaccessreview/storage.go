// Package selfsubjectaccessreview serves authorization.k8s.io/v1
// SelfSubjectAccessReview: "may I do this", answered by the server's
// authorizer, so `kubectl auth can-i` works.
package selfsubjectaccessreview

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// REST evaluates SelfSubjectAccessReviews; nothing is stored.
type REST struct {
	Authorizer authorizer.Authorizer
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

func (*REST) New() runtime.Object     { return &authorizationv1.SelfSubjectAccessReview{} }
func (*REST) Destroy()                {}
func (*REST) NamespaceScoped() bool   { return false }
func (*REST) GetSingularName() string { return "selfsubjectaccessreview" }

// Create asks the authorizer about the caller and the given attributes.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	review, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectAccessReview: %T", obj))
	}
	if errs := validate(review); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview").GroupKind(), "", errs)
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user present on request")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	var attrs authorizer.AttributesRecord
	if ra := review.Spec.ResourceAttributes; ra != nil {
		version := ra.Version
		if version == "" {
			version = "*"
		}
		attrs = authorizer.AttributesRecord{User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group, APIVersion: version,
			Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name, ResourceRequest: true}
	} else {
		nra := review.Spec.NonResourceAttributes
		attrs = authorizer.AttributesRecord{User: u, Verb: nra.Verb, Path: nra.Path}
	}
	decision, reason, evalErr := r.Authorizer.Authorize(ctx, attrs)
	review.Status = authorizationv1.SubjectAccessReviewStatus{
		Allowed: decision == authorizer.DecisionAllow,
		Denied:  decision == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if evalErr != nil {
		review.Status.EvaluationError = evalErr.Error()
	}
	return review, nil
}

// validate is kube's ValidateSelfSubjectAccessReview for the fields used.
func validate(r *authorizationv1.SelfSubjectAccessReview) field.ErrorList {
	spec := field.NewPath("spec")
	if (r.Spec.ResourceAttributes == nil) == (r.Spec.NonResourceAttributes == nil) {
		return field.ErrorList{field.Invalid(spec.Child("resourceAttributes"), r.Spec.NonResourceAttributes,
			`exactly one of nonResourceAttributes or resourceAttributes must be specified`)}
	}
	return nil
}
