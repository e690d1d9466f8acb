// Package api holds the scheme mini-apiserver serves: core/v1, with Pods and
// Namespaces also registered as the internal version so the generic registry
// can store the v1 types directly (no conversion functions are needed: the
// scheme sees the same Go type under both versions and only re-tags the kind).
package api

import (
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
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

// NewOpenAPIScheme returns a scheme of the served versions' types alone,
// for the OpenAPI definition namer: each definition's
// x-kubernetes-group-version-kind then lists its served kinds, as kube's
// does (kube's internal types are other Go types; ours are the same).
func NewOpenAPIScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(addExternalTypes(s))
	return s
}

// addExternalTypes registers the served group versions' types.
func addExternalTypes(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, admissionregistrationv1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme, authenticationv1.AddToScheme,
		authorizationv1.AddToScheme, rbacv1.AddToScheme, coordinationv1.AddToScheme, eventsv1.AddToScheme, auditreg.AddToScheme} {
		if err := add(s); err != nil {
			return err
		}
	}
	// Of policy/v1 only Eviction, the body of pods/eviction: this server
	// serves no PodDisruptionBudgets.
	s.AddKnownTypes(policyv1.SchemeGroupVersion, &policyv1.Eviction{})
	metav1.AddToGroupVersion(s, policyv1.SchemeGroupVersion)
	// The generic server decodes list/get/delete options in the empty group.
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	s.AddUnversionedTypes(schema.GroupVersion{Group: "", Version: "v1"},
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
	return nil
}

// aliasedVersions are the served group versions whose types are also
// their group's internal version (events.k8s.io/v1's internal version is
// the core Event instead, see events.go).
var aliasedVersions = []schema.GroupVersion{corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion, autoscalingv1.SchemeGroupVersion,
	authenticationv1.SchemeGroupVersion, authorizationv1.SchemeGroupVersion, rbacv1.SchemeGroupVersion, coordinationv1.SchemeGroupVersion,
	auditreg.SchemeGroupVersion, policyv1.SchemeGroupVersion, admissionregistrationv1.SchemeGroupVersion}

// AddToScheme registers the served versions' types, the internal aliases
// of the types served, defaulting, and the query-parameter and
// field-label conversions.
func AddToScheme(s *runtime.Scheme) error {
	if err := addExternalTypes(s); err != nil {
		return err
	}
	// Every type of a served version is also its internal version, so a
	// new resource needs no line here.
	for _, gv := range aliasedVersions {
		addInternalAliases(s, gv)
	}
	if err := addEventsV1(s); err != nil {
		return err
	}
	if err := addDefaultingFuncs(s); err != nil {
		return err
	}
	if err := addQueryParameterConversions(s); err != nil {
		return err
	}
	return addFieldLabelConversions(s)
}

// addInternalAliases registers the API types of gv (not the meta/v1
// options and events every version carries) under gv's group's internal
// version.
func addInternalAliases(s *runtime.Scheme, gv schema.GroupVersion) {
	internal := schema.GroupVersion{Group: gv.Group, Version: runtime.APIVersionInternal}
	metaPkg := reflect.TypeFor[metav1.Status]().PkgPath()
	for kind, t := range s.KnownTypes(gv) {
		if t.PkgPath() != metaPkg {
			s.AddKnownTypeWithName(internal.WithKind(kind), reflect.New(t).Interface().(runtime.Object))
		}
	}
}
