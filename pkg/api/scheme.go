// Package api holds the scheme mini-apiserver serves: core/v1, with Pods and
// Namespaces also registered as the internal version so the generic registry
// can store the v1 types directly (no conversion functions are needed: the
// scheme sees the same Go type under both versions and only re-tags the kind).
package api

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

var (
	// Scheme knows every type the server encodes or decodes.
	Scheme = runtime.NewScheme()
	// Codecs serializes objects of Scheme in JSON, YAML, protobuf and CBOR.
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec decodes query parameters into option structs.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
)

// InternalVersion is the storage-facing version of the legacy core group.
var InternalVersion = schema.GroupVersion{Group: "", Version: runtime.APIVersionInternal}

func init() {
	utilruntime.Must(AddToScheme(Scheme))
}

// AddToScheme registers core/v1, authentication.k8s.io/v1 and
// authorization.k8s.io/v1 (for the self reviews), rbac.authorization.k8s.io/v1,
// the internal aliases of the types served, defaulting and field-label
// conversions.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, authenticationv1.AddToScheme, authorizationv1.AddToScheme, rbacv1.AddToScheme, auditreg.AddToScheme} {
		if err := add(s); err != nil {
			return err
		}
	}
	s.AddKnownTypes(InternalVersion,
		&corev1.Pod{}, &corev1.PodList{},
		&corev1.Namespace{}, &corev1.NamespaceList{},
	)
	s.AddKnownTypes(schema.GroupVersion{Group: authenticationv1.GroupName, Version: runtime.APIVersionInternal},
		&authenticationv1.SelfSubjectReview{})
	s.AddKnownTypes(schema.GroupVersion{Group: authorizationv1.GroupName, Version: runtime.APIVersionInternal},
		&authorizationv1.SelfSubjectAccessReview{}, &authorizationv1.SelfSubjectRulesReview{})
	s.AddKnownTypes(schema.GroupVersion{Group: rbacv1.GroupName, Version: runtime.APIVersionInternal},
		&rbacv1.Role{}, &rbacv1.RoleList{}, &rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{},
		&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRoleBindingList{})
	s.AddKnownTypes(schema.GroupVersion{Group: auditreg.GroupName, Version: runtime.APIVersionInternal},
		&auditreg.AuditSink{}, &auditreg.AuditSinkList{})
	// The generic server decodes list/get/delete options in the empty group.
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	s.AddUnversionedTypes(schema.GroupVersion{Group: "", Version: "v1"},
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
	if err := addDefaultingFuncs(s); err != nil {
		return err
	}
	return addFieldLabelConversions(s)
}
