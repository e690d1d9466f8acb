// Package admission builds mini-apiserver's admission chain with
// kube-apiserver's flags, plugin names and fixed order
// (k8s.io/kubernetes pkg/kubeapiserver/options/plugins.go). The plugins are
// k8s.io/apiserver's own (NamespaceLifecycle, the webhooks, the admission
// policies) and kube's written again here (ServiceAccount, PodSecurity on
// k8s.io/pod-security-admission); kube's other plugins are accepted by name
// and do nothing, which the start-up warning says.
package admission

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	apiserverconfig "k8s.io/apiserver/pkg/apis/apiserver"
	apiserverconfigv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	apiserverconfigv1alpha1 "k8s.io/apiserver/pkg/apis/apiserver/v1alpha1"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	admissionmetrics "k8s.io/apiserver/pkg/admission/metrics"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	webhookinit "k8s.io/apiserver/pkg/admission/plugin/webhook/initializer"
	mutatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	validatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/validating"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/admission/podsecurity"
	"github.com/mini-apiserver/mini-apiserver/pkg/admission/serviceaccount"
)

// orderedPlugins is kube-apiserver v1.37's AllOrderedPlugins: the order the
// chain runs in, whatever order the flags name them in.
var orderedPlugins = []string{
	"AlwaysAdmit", "NamespaceAutoProvision", lifecycle.PluginName, "NamespaceExists",
	"LimitPodHardAntiAffinityTopology", "LimitRanger", serviceaccount.PluginName, "NodeRestriction",
	"TaintNodesByCondition", "AlwaysPullImages", "ImagePolicyWebhook", podsecurity.PluginName, "PodNodeSelector",
	"Priority", "DefaultTolerationSeconds", "PodTolerationRestriction", "EventRateLimit",
	"ExtendedResourceToleration", "DefaultStorageClass", "StorageObjectInUseProtection", "PodGroupProtection",
	"OwnerReferencesPermissionEnforcement", "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval",
	"CertificateSigning", "ClusterTrustBundleAttest", "CertificateSubjectRestriction", "DefaultIngressClass",
	"DenyServiceExternalIPs", "PodTopologyLabels", "NodeDeclaredFeatureValidator", "PodResizeValidator",
	// The webhooks and policies come after the plugins above, so what
	// they see is what those made; ResourceQuota last.
	mutatingpolicy.PluginName, mutatingwebhook.PluginName, validatingpolicy.PluginName, validatingwebhook.PluginName,
	"ResourceQuota", "AlwaysDeny",
}

// defaultOnPlugins is kube-apiserver v1.37's default-enabled set.
var defaultOnPlugins = sets.New(
	lifecycle.PluginName, "LimitRanger", serviceaccount.PluginName, "DefaultStorageClass",
	"PersistentVolumeClaimResize", "DefaultTolerationSeconds", mutatingwebhook.PluginName,
	validatingwebhook.PluginName, "ResourceQuota", "StorageObjectInUseProtection", "PodGroupProtection",
	"Priority", "TaintNodesByCondition", "RuntimeClass", "CertificateApproval", "CertificateSigning",
	"ClusterTrustBundleAttest", "CertificateSubjectRestriction", "DefaultIngressClass", podsecurity.PluginName,
	"PodTopologyLabels", mutatingpolicy.PluginName, validatingpolicy.PluginName, "NodeDeclaredFeatureValidator",
	"PodResizeValidator",
)

// ExcludedResources are the ones admission webhooks and policies never
// see: kube's (pkg/kubeapiserver/admission/exclusion), reviews that are
// not stored.
var ExcludedResources = []schema.GroupResource{
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
}

// Options are kube-apiserver's admission flags: --enable-admission-plugins,
// --disable-admission-plugins and --admission-control-config-file, with the
// library's parsing, validation and configuration file reader, and the
// deprecated --admission-control (kube's pkg/kubeapiserver/options/admission.go).
type Options struct {
	*genericoptions.AdmissionOptions
	// PluginNames is --admission-control: exactly the plugins to run.
	PluginNames []string
	// absent are kube's plugins this server does not have.
	absent sets.Set[string]
}

// NewOptions returns kube-apiserver's defaults. immortalNamespaces are the
// namespaces NamespaceLifecycle refuses to delete.
func NewOptions(immortalNamespaces []string) *Options {
	plugins := admission.NewPlugins()
	plugins.Register(lifecycle.PluginName, func(io.Reader) (admission.Interface, error) {
		return lifecycle.NewLifecycle(sets.New(immortalNamespaces...))
	})
	serviceaccount.Register(plugins)
	podsecurity.Register(plugins)
	registerAlways(plugins)
	o := &Options{absent: sets.New[string]()}
	registerWebhooksAndPolicies(plugins, func() bool { return o.ConfigFile != "" })
	for _, name := range orderedPlugins {
		if !slices.Contains(plugins.Registered(), name) {
			o.absent.Insert(name)
			plugins.Register(name, func(io.Reader) (admission.Interface, error) { return absentPlugin{}, nil })
		}
	}
	o.AdmissionOptions = &genericoptions.AdmissionOptions{
		Plugins:                plugins,
		Decorators:             admission.Decorators{admission.DecoratorFunc(admissionmetrics.WithControllerMetrics)},
		RecommendedPluginOrder: orderedPlugins,
		DefaultOffPlugins:      sets.New(orderedPlugins...).Difference(defaultOnPlugins),
	}
	return o
}

// AddFlags adds the flags with kube-apiserver's names and help.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.PluginNames, "admission-control", o.PluginNames, ""+
		"Admission is divided into two phases. "+
		"In the first phase, only mutating admission plugins run. "+
		"In the second phase, only validating admission plugins run. "+
		"The names in the below list may represent a validating plugin, a mutating plugin, or both. "+
		"The order of plugins in which they are passed to this flag does not matter. "+
		"Comma-delimited list of: "+strings.Join(o.Plugins.Registered(), ", ")+".")
	_ = fs.MarkDeprecated("admission-control", "Use --enable-admission-plugins or --disable-admission-plugins instead. Will be removed in a future version.")
	fs.Lookup("admission-control").Hidden = false
	o.AdmissionOptions.AddFlags(fs)
}

// enableDisable are the plugins enabled and disabled by flag:
// --admission-control's list enables those and disables the others.
func (o *Options) enableDisable() (enable, disable []string) {
	if o.PluginNames == nil {
		return o.EnablePlugins, o.DisablePlugins
	}
	return o.PluginNames, sets.List(sets.New(o.RecommendedPluginOrder...).Delete(o.PluginNames...))
}

// Validate checks the plugin names, as the library does, and that every
// plugin configuration the file points to can be read: the library reads
// them only when it builds the chain, and ends the process if one is
// missing.
func (o *Options) Validate() []error {
	errs := o.AdmissionOptions.Validate()
	if o.PluginNames != nil && (o.EnablePlugins != nil || o.DisablePlugins != nil) {
		errs = append(errs, fmt.Errorf("admission-control and enable-admission-plugins/disable-admission-plugins flags are mutually exclusive"))
	}
	for _, name := range o.PluginNames {
		if !slices.Contains(o.Plugins.Registered(), name) {
			errs = append(errs, fmt.Errorf("admission-control plugin %q is unknown", name))
		}
	}
	if o.ConfigFile == "" {
		return errs
	}
	data, err := os.ReadFile(o.ConfigFile)
	if err != nil {
		return append(errs, fmt.Errorf("--admission-control-config-file: %w", err))
	}
	obj, err := runtime.Decode(configCodecs.UniversalDecoder(), data)
	if err != nil {
		return append(errs, fmt.Errorf("--admission-control-config-file %s: %w", o.ConfigFile, err))
	}
	config, ok := obj.(*apiserverconfig.AdmissionConfiguration)
	if !ok {
		return append(errs, fmt.Errorf("--admission-control-config-file %s: a %T, want an AdmissionConfiguration", o.ConfigFile, obj))
	}
	for i, plugin := range config.Plugins {
		if plugin.Path == "" {
			continue
		}
		path := plugin.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(o.ConfigFile), path)
		}
		if _, err := os.ReadFile(path); err != nil {
			errs = append(errs, fmt.Errorf("--admission-control-config-file %s: plugins[%d] (%s): %w", o.ConfigFile, i, plugin.Name, err))
		}
	}
	return errs
}

// configCodecs decode AdmissionConfiguration, strictly, in the versions
// the library reads.
var configCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	utilruntime.Must(apiserverconfig.AddToScheme(s))
	utilruntime.Must(apiserverconfigv1alpha1.AddToScheme(s))
	utilruntime.Must(apiserverconfigv1.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict)
}()

// Enabled are the plugins the flags enable, in the order they run.
func (o *Options) Enabled() []string {
	enable, disable := o.enableDisable()
	off := sets.New(disable...).Union(o.DefaultOffPlugins).Difference(sets.New(enable...))
	var on []string
	for _, name := range o.RecommendedPluginOrder {
		if !off.Has(name) {
			on = append(on, name)
		}
	}
	return on
}

// Absent are the enabled plugins this server does not have, in order.
func (o *Options) Absent() []string {
	return slices.DeleteFunc(o.Enabled(), func(name string) bool { return !o.absent.Has(name) })
}

// Clients are what the plugins reach the server with.
type Clients struct {
	Informers informers.SharedInformerFactory
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	// Loopback authenticates the webhook plugins' calls to the server
	// itself (a webhook registered with the kubernetes service).
	Loopback *rest.Config
	// ServingURL is the kubernetes service's address here.
	ServingURL string
}

// ApplyTo builds the chain into c, as kube-apiserver does: the library's
// generic initializer, the webhooks' one (how to reach and authenticate to
// a webhook) and kube's (the resources policies ignore).
func (o *Options) ApplyTo(c *genericapiserver.Config, clients Clients, features featuregate.FeatureGate, version compatibility.EffectiveVersion) error {
	if absent := o.Absent(); len(absent) > 0 {
		klog.Warningf("Admission plugins enabled that mini-apiserver does not have, which admit everything: %s", strings.Join(absent, ", "))
	}
	auth, services, err := WebhookResolvers(clients.Loopback, clients.ServingURL, c.TracerProvider)
	if err != nil {
		return err
	}
	webhooks := webhookinit.NewPluginInitializer(auth, services)
	kube := excludedResourcesInitializer(ExcludedResources)
	o.EnablePlugins, o.DisablePlugins = o.enableDisable()
	if err := o.AdmissionOptions.ApplyTo(c, clients.Informers, clients.Kube, clients.Dynamic, features, version, webhooks, kube); err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	return nil
}

// excludedResourcesInitializer tells the admission policies which
// resources they never see.
type excludedResourcesInitializer []schema.GroupResource

func (e excludedResourcesInitializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(initializer.WantsExcludedAdmissionResources); ok {
		wants.SetExcludedAdmissionResources(e)
	}
}

// WebhookResolvers are how the server reaches a webhook (an admission
// webhook, a custom resource conversion webhook) and authenticates to it,
// as kube-apiserver's: a webhook of this server's own kubernetes service is
// called with the loopback credential; a kubeconfig of the admission
// configuration file names the others'.
func WebhookResolvers(loopback *rest.Config, servingURL string, tracer trace.TracerProvider) (webhook.AuthenticationInfoResolverWrapper, webhook.ServiceResolver, error) {
	serving, err := url.Parse(servingURL)
	if err != nil {
		return nil, nil, fmt.Errorf("serving URL: %w", err)
	}
	return webhook.NewDefaultAuthenticationInfoResolverWrapper(nil, nil, loopback, tracer), serviceResolver{kubernetes: serving}, nil
}

// serviceResolver is where a webhook's clientConfig.service points. There
// are no Services here, and so no endpoints: only the kubernetes service
// (this server, as kube-apiserver resolves it to itself) can be reached;
// any other is an error the webhook's failurePolicy decides on.
type serviceResolver struct{ kubernetes *url.URL }

func (r serviceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	if namespace == "default" && name == "kubernetes" && port == 443 {
		u := *r.kubernetes
		return &u, nil
	}
	return nil, fmt.Errorf("service %s/%s: mini-apiserver has no Services; register the webhook with clientConfig.url", namespace, name)
}

// absentPlugin stands for a plugin of kube's this server does not have.
type absentPlugin struct{}

func (absentPlugin) Handles(admission.Operation) bool { return false }
