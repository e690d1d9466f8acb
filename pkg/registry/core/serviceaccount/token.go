package serviceaccount

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/audit"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	tokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"

	satoken "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
)

// Getter is one resource's store, for what a TokenRequest names.
type Getter func(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error)

// TokenREST serves serviceaccounts/token, the TokenRequest API (kube's
// pkg/registry/core/serviceaccount/storage/token.go): a token for the
// service account, optionally bound to a pod or a secret of its namespace.
type TokenREST struct {
	serviceAccounts, pods, secrets Getter
	config                         *satoken.Config
}

// NewTokenREST issues tokens with config; pods and secrets are read for
// bound tokens.
func NewTokenREST(serviceAccounts, pods, secrets Getter, config *satoken.Config) *TokenREST {
	return &TokenREST{serviceAccounts: serviceAccounts, pods: pods, secrets: secrets, config: config}
}

var (
	_               rest.NamedCreater                   = &TokenREST{}
	_               rest.GroupVersionKindProvider       = &TokenREST{}
	_               rest.SubresourceObjectMetaPreserver = &TokenREST{}
	tokenRequestGVK                                     = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
)

func (r *TokenREST) New() runtime.Object { return &authenticationv1.TokenRequest{} }
func (r *TokenREST) Destroy()            {}

// GroupVersionKind is authentication.k8s.io/v1 TokenRequest.
func (r *TokenREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return tokenRequestGVK
}

// PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate keeps the
// request's uid: it must be the service account's.
func (r *TokenREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool { return true }

// minTokenAgeSec is kube's: a token lives at least ten minutes.
const minTokenAgeSec = 10 * 60

func (r *TokenREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	req := obj.(*authenticationv1.TokenRequest)
	namespace, ok := genericapirequest.NamespaceFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("namespace is required")
	}
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata").Child("name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata").Child("namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	saObj, err := r.serviceAccounts(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	sa := saObj.(*corev1.ServiceAccount)
	// TokenRequestServiceAccountUIDValidation is on by default in 1.37.
	if req.UID != "" && req.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestGVK.Group, Resource: tokenRequestGVK.Kind}, name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = r.config.APIAudiences
	}
	req.Name, req.Namespace, req.UID = sa.Name, sa.Namespace, sa.UID
	now := time.Now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	expiration := int64(3600)
	if req.Spec.ExpirationSeconds != nil {
		expiration = *req.Spec.ExpirationSeconds
	}
	if errs := validateTokenRequest(req, expiration); len(errs) != 0 {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), "", errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	pod, secret, err := r.boundObject(ctx, name, namespace, req.Spec.BoundObjectRef)
	if err != nil {
		return nil, err
	}
	if max := int64(r.config.MaxExpiration.Seconds()); max > 0 && expiration > max {
		warning.AddWarning(ctx, "", fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", expiration, max))
		expiration = max
	}
	var warnAfter int64
	exp := expiration
	if r.config.Extend && pod != nil && expiration == satoken.WarnOnlyBoundTokenExpirationSeconds && r.isKubeAudiences(req.Spec.Audiences) {
		warnAfter, exp = expiration, satoken.ExpirationExtensionSeconds
	}
	sc, pc := satoken.Claims(sa, pod, secret, exp, warnAfter, req.Spec.Audiences)
	token, err := r.config.Generator.Generate(sc, pc)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %v", err))
	}
	out := req.DeepCopy()
	out.Spec.ExpirationSeconds = &expiration
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(expiration) * time.Second))}
	audit.AddAuditAnnotation(ctx, apiserverserviceaccount.IssuedCredentialIDAuditAnnotationKey, tokenjwt.CredentialIDForJTI(sc.ID))
	return out, nil
}

// validateTokenRequest is kube's ValidateTokenRequest for what is served
// here (no webhook-bound tokens, so no attestations).
func validateTokenRequest(req *authenticationv1.TokenRequest, expiration int64) field.ErrorList {
	var allErrs field.ErrorList
	specPath := field.NewPath("spec")
	if expiration < minTokenAgeSec {
		allErrs = append(allErrs, field.Invalid(specPath.Child("expirationSeconds"), expiration, "may not specify a duration less than 10 minutes"))
	}
	if expiration > 1<<32 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("expirationSeconds"), expiration, "may not specify a duration larger than 2^32 seconds"))
	}
	return allErrs
}

// boundObject reads the pod or secret the token is to be bound to.
func (r *TokenREST) boundObject(ctx context.Context, saName, namespace string, ref *authenticationv1.BoundObjectReference) (*corev1.Pod, *corev1.Secret, error) {
	if ref == nil {
		return nil, nil, nil
	}
	var uid types.UID
	var pod *corev1.Pod
	var secret *corev1.Secret
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := r.pods(getContext(ctx, "pods", ref.Name, namespace), ref.Name, &metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		pod = obj.(*corev1.Pod)
		if saName != pod.Spec.ServiceAccountName {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		uid = pod.UID
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := r.secrets(getContext(ctx, "secrets", ref.Name, namespace), ref.Name, &metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		secret = obj.(*corev1.Secret)
		uid = secret.UID
	default:
		// Node: this server has no Node objects.
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && uid != ref.UID {
		return nil, nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return pod, secret, nil
}

// getContext is kube's newContext: the bound object is read as a get of
// its own resource, so its errors name it.
func getContext(ctx context.Context, resource, name, namespace string) context.Context {
	info := genericapirequest.RequestInfo{IsResourceRequest: true, Verb: "get", Namespace: namespace, Resource: resource, Name: name,
		Parts: []string{resource, name}, APIGroup: "", APIVersion: "v1"}
	return genericapirequest.WithNamespace(genericapirequest.WithRequestInfo(ctx, &info), namespace)
}

func (r *TokenREST) isKubeAudiences(auds []string) bool {
	// The token's audiences must all be the API's, as kube's check.
	return sets.New(r.config.APIAudiences...).HasAll(auds...)
}
