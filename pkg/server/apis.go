package server

import (
	"fmt"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/resourceconfig"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/mini-apiserver/mini-apiserver/pkg/admission"
	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/policy"
	admissionregistrationrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/rest"
	appsrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/apps/rest"
	auditregistrationrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/auditregistration/rest"
	authenticationrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/authentication/rest"
	authorizationrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/authorization/rest"
	coordinationrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/coordination/rest"
	corerest "github.com/mini-apiserver/mini-apiserver/pkg/registry/core/rest"
	eventsrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/events/rest"
	rbacrest "github.com/mini-apiserver/mini-apiserver/pkg/registry/rbac/rest"
)

// RESTStorageProvider builds one API group's storage, as kube-apiserver's
// (pkg/controlplane/apiserver): each group is a provider under
// pkg/registry/<group>/rest, and restStorageProviders lists them.
type RESTStorageProvider interface {
	GroupName() string
	// NewRESTStorage returns the group's resources that source enables; a
	// group with none is not installed.
	NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error)
}

// restStorageProviders is the table of the API groups served. The
// AuditSink API is there only while the dynamic backend's switches are all
// on, as in kube-apiserver 1.13-1.18.
func (c completedConfig) restStorageProviders() ([]RESTStorageProvider, error) {
	authz := c.Generic.Authorization.Authorizer
	// kube's admission policies resolve a paramKind to its resource through
	// the server's own discovery.
	discoveryClient, err := discovery.NewDiscoveryClientForConfig(c.Extra.background.loopbackConfig(c.Generic.LoopbackClientConfig))
	if err != nil {
		return nil, err
	}
	providers := []RESTStorageProvider{
		corerest.RESTStorageProvider{Authorizer: authz, EventTTL: c.Extra.EventTTL, ServiceAccountTokens: c.Extra.ServiceAccountTokens},
		authenticationrest.RESTStorageProvider{},
		authorizationrest.RESTStorageProvider{Authorizer: authz, RuleResolver: c.Extra.RuleResolver},
		rbacrest.RESTStorageProvider{Authorizer: authz},
		appsrest.RESTStorageProvider{},
		coordinationrest.RESTStorageProvider{},
		eventsrest.RESTStorageProvider{TTL: c.Extra.EventTTL},
		admissionregistrationrest.RESTStorageProvider{ExcludedResources: admission.ExcludedResources,
			ParamAuthorizer: policy.ParamAuthorizer{Authorizer: authz, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoveryClient))}},
	}
	if c.Extra.AuditSinks != nil {
		providers = append(providers, auditregistrationrest.RESTStorageProvider{})
	}
	return providers, nil
}

// installAPIs installs the groups of the providers that have resources
// enabled: the core group at /api, the others at /apis.
func (c completedConfig) installAPIs(s *genericapiserver.GenericAPIServer) error {
	var groups []*genericapiserver.APIGroupInfo
	providers, err := c.restStorageProviders()
	if err != nil {
		return err
	}
	for _, p := range providers {
		info, err := p.NewRESTStorage(c.Generic.MergedResourceConfig, c.Generic.RESTOptionsGetter)
		if err != nil {
			return fmt.Errorf("API group %q: %w", p.GroupName(), err)
		}
		if len(info.VersionedResourcesStorageMap) == 0 {
			continue
		}
		if p.GroupName() == corev1.GroupName {
			if err := s.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &info); err != nil {
				return err
			}
			continue
		}
		groups = append(groups, &info)
	}
	return s.InstallAPIGroups(groups...)
}

// defaultAPIResourceConfig is what is served without --runtime-config:
// kube-apiserver's rule, GA versions on and alpha versions off.
func defaultAPIResourceConfig() *serverstorage.ResourceConfig {
	rc := serverstorage.NewResourceConfig()
	rc.EnableVersions(corev1.SchemeGroupVersion, authenticationv1.SchemeGroupVersion, authorizationv1.SchemeGroupVersion, rbacv1.SchemeGroupVersion,
		coordinationv1.SchemeGroupVersion, eventsv1.SchemeGroupVersion, appsv1.SchemeGroupVersion, admissionregistrationv1.SchemeGroupVersion)
	rc.DisableVersions(auditreg.SchemeGroupVersion)
	return rc
}

// ignoredRuntimeConfig are the --runtime-config keys of kube-apiserver's
// groups this server does not have: accepted, and named in the start-up
// warning. The library's merge skips them too.
func ignoredRuntimeConfig(m cliflag.ConfigurationMap) []string {
	var ignored []string
	for key := range m {
		tokens := strings.Split(key, "/")
		switch {
		case key == resourceconfig.APIAll || key == resourceconfig.APIGA || key == resourceconfig.APIBeta || key == resourceconfig.APIAlpha:
		case (len(tokens) == 2 || len(tokens) == 3) && (api.Scheme.IsGroupRegistered(tokens[0]) || apiextensionsapiserver.Scheme.IsGroupRegistered(tokens[0])):
		default:
			ignored = append(ignored, key)
		}
	}
	sort.Strings(ignored)
	return ignored
}

// resourceConfig is what --runtime-config makes of the default, as the
// library's APIEnablementOptions.ApplyTo merges it.
func (o CompletedOptions) resourceConfig() (*serverstorage.ResourceConfig, error) {
	rc, err := resourceconfig.MergeAPIResourceConfigs(defaultAPIResourceConfig(), o.APIEnablement.RuntimeConfig, api.Scheme)
	if err != nil {
		return nil, fmt.Errorf("--runtime-config: %w", err)
	}
	return rc, nil
}

// auditSinksEnabled says whether rc serves the AuditSink API.
func auditSinksEnabled(rc serverstorage.APIResourceConfigSource) bool {
	return rc.ResourceEnabled(auditreg.SchemeGroupVersion.WithResource("auditsinks"))
}

// requiredResources are what the server's own bootstrap, controllers and
// authorizer use: --runtime-config cannot turn them off here.
var requiredResources = []schema.GroupVersionResource{
	corev1.SchemeGroupVersion.WithResource("namespaces"),
	rbacv1.SchemeGroupVersion.WithResource("roles"),
	rbacv1.SchemeGroupVersion.WithResource("rolebindings"),
	rbacv1.SchemeGroupVersion.WithResource("clusterroles"),
	rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings"),
}

// validateResourceConfig names a required resource rc turns off.
func validateResourceConfig(rc serverstorage.APIResourceConfigSource) []error {
	var errs []error
	for _, gvr := range requiredResources {
		if !rc.ResourceEnabled(gvr) {
			errs = append(errs, fmt.Errorf("--runtime-config: %s cannot be disabled: mini-apiserver's own bootstrap and controllers use it", strings.TrimPrefix(gvr.GroupVersion().String()+"/"+gvr.Resource, "/")))
		}
	}
	return errs
}
