package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	utiltrace "k8s.io/utils/trace"

	"k8s.io/apimachinery/pkg/util/sets"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/discovery"
	dynamicclient "k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/admission"
	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/dynamic"
	saauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
	generatedopenapi "github.com/mini-apiserver/mini-apiserver/pkg/generated/openapi"
)

// Config is everything New needs: the library's configuration and ours.
// What building it opened (the bound port, the embedded etcd, the audit log
// file) is not here: the Instance that Start returns owns it.
type Config struct {
	Generic *genericapiserver.RecommendedConfig
	// Extensions is apiextensions-apiserver's, served behind Generic's API
	// groups.
	Extensions *apiextensionsapiserver.Config
	Extra      ExtraConfig
}

// ExtraConfig is what mini-apiserver adds to the library's configuration.
type ExtraConfig struct {
	DataDir string
	// IdentityHost is the host name of the apiserver identity.
	IdentityHost string
	// KubeconfigPath is the generated admin kubeconfig; AdminConfig is the
	// same credential as a client configuration.
	KubeconfigPath string
	AdminConfig    *rest.Config
	// ControllerConfigs are the client configs of the in-process
	// controllers, by user (controllerUsers).
	ControllerConfigs map[string]*rest.Config
	// RootCA is what clients trust, published in every namespace as
	// kube-root-ca.crt.
	RootCA []byte
	// RuleResolver lists what a user may do, for SelfSubjectRulesReview.
	RuleResolver authorizer.RuleResolver
	// AuditSinks is the dynamic audit backend, when its switches are on.
	AuditSinks *dynamic.Backend
	// EventTTL is how long an event is kept (--event-ttl).
	EventTTL time.Duration
	// ServiceAccountTokens issues and verifies service-account tokens.
	ServiceAccountTokens *saauth.Config
	// background is what the shared informers and the controllers dial
	// through; it stops them when shutdown begins.
	background *background
	// startup is the start's trace, logged when the server is ready.
	startup *utiltrace.Trace
	// returnIdleMemory is WithIdleMemoryReturned.
	returnIdleMemory bool
}

// config builds the server configuration, one concern at a time, and
// records in res what it opens.
func (o CompletedOptions) config(ctx context.Context, res *resources, so startOptions) (*Config, error) {
	if err := ensureDataDir(o.DataDir); err != nil {
		return nil, err
	}
	creds, err := o.loadOrCreateCredentials()
	if err != nil {
		return nil, err
	}
	so.startup.Step("credentials loaded")
	cfg := &Config{Generic: genericapiserver.NewRecommendedConfig(api.Codecs), Extra: ExtraConfig{DataDir: o.DataDir, EventTTL: o.EventTTL, background: newBackground()}}
	c := cfg.Generic
	if cfg.Extra.IdentityHost, err = identityHost(o.IdentityHostname); err != nil {
		return nil, err
	}
	// The library's identity is of the machine's host name; another's is
	// derived the same way.
	if c.APIServerID != "" && o.IdentityHostname != "" {
		c.APIServerID = apiServerID(cfg.Extra.IdentityHost)
	}
	// One aggregated discovery document for the server's groups and the
	// custom resources' (kube-apiserver shares it the same way).
	c.AggregatedDiscoveryGroupManager = aggregated.NewResourceManager("apis")
	if err := o.GenericServerRun.ApplyTo(&c.Config); err != nil {
		return nil, err
	}
	// kube-apiserver's (pkg/controlplane/apiserver/config.go): the pods
	// streaming subresources are long-running, which also gives their audit
	// events a ResponseStarted stage.
	c.LongRunningFunc = genericfilters.BasicLongRunningRequestCheck(
		sets.NewString("watch", "proxy"),
		sets.NewString("attach", "exec", "proxy", "log", "portforward"),
	)
	if res.listener, err = o.applyServing(c, creds, so.listener); err != nil {
		return nil, err
	}
	so.startup.Step("port bound")
	if wrap := so.wrapAPIHandler; wrap != nil {
		c.BuildHandlerChainFunc = func(apiHandler http.Handler, gc *genericapiserver.Config) http.Handler {
			return genericapiserver.DefaultBuildHandlerChain(wrap(apiHandler), gc)
		}
	}
	// The port is bound, so a port in use fails before any etcd is started.
	// The embedded etcd starts now and is waited for at storage: a member
	// spends most of its start waiting out its election, which the steps in
	// between use.
	if len(o.Etcd.StorageConfig.Transport.ServerList) == 0 {
		if res.etcd, err = o.startEmbeddedEtcd(so.disposableEtcd); err != nil {
			return nil, err
		}
		so.startup.Step("embedded etcd starting")
	}
	if res.auditLog, err = o.applyAudit(&c.Config); err != nil {
		return nil, err
	}
	if err := o.APIEnablement.ApplyTo(&c.Config, defaultAPIResourceConfig(), api.Scheme); err != nil {
		return nil, fmt.Errorf("--runtime-config: %w", err)
	}
	if o.DynamicAudit.on(auditSinksEnabled(c.MergedResourceConfig)) {
		if cfg.Extra.AuditSinks, err = o.DynamicAudit.applyTo(&c.Config); err != nil {
			return nil, err
		}
	}
	// The loopback client carries its token already; the informers it
	// feeds are what RBAC authorizes from.
	loopbackClient, err := kubernetes.NewForConfig(c.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	informerClient, err := kubernetes.NewForConfig(cfg.Extra.background.loopbackConfig(c.LoopbackClientConfig))
	if err != nil {
		return nil, err
	}
	c.ClientConfig = c.LoopbackClientConfig
	// The informers stream their start with a watch-list (client-go's
	// WatchListClient, on by default since 1.35), as kube-apiserver's: one
	// watch of each resource in the audit trail, where a list at
	// resourceVersion 0 came page by page, each page a RequestResponse
	// event at that level (a few thousand pods made megabytes per start).
	c.SharedInformerFactory = informers.NewSharedInformerFactory(informerClient, 10*time.Minute)
	if cfg.Extra.ServiceAccountTokens, err = o.ServiceAccounts.Complete(o.SecureServing.ServerCert.CertDirectory); err != nil {
		return nil, err
	}
	if cfg.Extra.RuleResolver, err = o.applyAuth(c, creds, cfg.Extra.ServiceAccountTokens, loopbackClient); err != nil {
		return nil, err
	}
	if err := o.Features.ApplyTo(&c.Config, loopbackClient, c.SharedInformerFactory); err != nil {
		return nil, err
	}
	so.startup.Step("audit, authentication and authorization")
	applyOpenAPI(c)
	dynamicClient, err := dynamicclient.NewForConfig(c.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	if err := o.Admission.ApplyTo(&c.Config, admission.Clients{
		Informers: c.SharedInformerFactory, Kube: backgroundDiscovery{loopbackClient, informerClient.Discovery()}, Dynamic: dynamicClient,
		Loopback: c.LoopbackClientConfig, ServingURL: "https://" + loopbackHostPort(c.SecureServing),
	}, c.FeatureGate, c.EffectiveVersion); err != nil {
		return nil, err
	}
	so.startup.Step("admission")
	etcdOpts, err := o.applyStorage(ctx, c, res.etcd)
	if err != nil {
		return nil, err
	}
	so.startup.Step("storage (etcd ready)")
	servingURL := "https://" + loopbackHostPort(c.SecureServing)
	webhookAuth, webhookServices, err := admission.WebhookResolvers(c.LoopbackClientConfig, servingURL, c.TracerProvider)
	if err != nil {
		return nil, err
	}
	if cfg.Extensions, err = o.apiExtensionsConfig(c, etcdOpts, cfg.Extra.background, webhookAuth, webhookServices); err != nil {
		return nil, err
	}
	so.startup.Step("apiextensions-apiserver configured")
	cfg.Extra.ControllerConfigs = map[string]*rest.Config{}
	for _, user := range controllerUsers {
		cfg.Extra.ControllerConfigs[user] = cfg.Extra.background.clientConfig(creds.controllerConfig(user, servingURL))
	}
	cfg.Extra.RootCA = creds.servingCA
	cfg.Extra.AdminConfig = creds.adminConfig(servingURL)
	if cfg.Extra.KubeconfigPath, err = creds.writeAdminKubeconfig(o.DataDir, servingURL); err != nil {
		return nil, err
	}
	cfg.Extra.startup = so.startup
	cfg.Extra.returnIdleMemory = so.returnIdleMemory
	return cfg, nil
}

// backgroundDiscovery is the loopback client with discovery made through
// the in-process clients' dialer: the admission plugins poll discovery and
// /openapi/v3 all the time (the REST mapper every 30 s, the
// MutatingAdmissionPolicy plugin every 5 s), so their connections are
// closed with the other background clients' when shutdown begins.
type backgroundDiscovery struct {
	kubernetes.Interface
	discovery discovery.DiscoveryInterfaces
}

func (c backgroundDiscovery) Discovery() discovery.DiscoveryInterfaces { return c.discovery }

// applyOpenAPI serves the generated definitions as OpenAPI v2 and v3;
// server-side apply builds its type converter from them.
func applyOpenAPI(c *genericapiserver.RecommendedConfig) {
	namer := openapinamer.NewDefinitionNamer(api.NewOpenAPIScheme(), apiextensionsapiserver.Scheme)
	c.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIV3Config.Info.Title = "Kubernetes"
	c.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIConfig.Info.Title = "Kubernetes"
	// Served by installLazyOpenAPI, built at the first request.
	c.SkipOpenAPIInstallation = true
}

type completedConfig struct {
	Generic    genericapiserver.CompletedConfig
	Extensions apiextensionsapiserver.CompletedConfig
	Extra      *ExtraConfig
}

// CompletedConfig can only be made by Config.Complete, so New cannot run on
// a raw configuration.
type CompletedConfig struct{ *completedConfig }

// Complete fills in the library's derived defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{&completedConfig{Generic: c.Generic.Complete(), Extensions: c.Extensions.Complete(), Extra: &c.Extra}}
}

func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("--data-dir %s is not writable: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}
