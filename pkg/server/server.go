package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	saauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
	generatedopenapi "github.com/mini-apiserver/mini-apiserver/pkg/generated/openapi"

	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	coreinformers "k8s.io/client-go/informers/core/v1"
	rbacinformers "k8s.io/client-go/informers/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/controller/clusterroleaggregation"
	nscontroller "github.com/mini-apiserver/mini-apiserver/pkg/controller/namespace"
	"github.com/mini-apiserver/mini-apiserver/pkg/controller/namespacedefaults"
	"github.com/mini-apiserver/mini-apiserver/pkg/controller/policystatus"
)

// Server is a mini-apiserver ready to run.
type Server struct {
	Generic    *genericapiserver.GenericAPIServer
	extensions *apiextensionsapiserver.CustomResourceDefinitions
	config     CompletedConfig
	// ServingURL is where clients reach the server.
	ServingURL string
	// ready is closed when /readyz first answers 200.
	ready   chan struct{}
	openAPI *lazyOpenAPI
	// informers the post-start hooks read, registered with the shared
	// factory before it starts.
	informers struct {
		namespaces          coreinformers.NamespaceInformer
		clusterRoles        rbacinformers.ClusterRoleInformer
		clusterRoleBindings rbacinformers.ClusterRoleBindingInformer
	}
}

// New installs the API and the server's post-start hooks. As in
// kube-apiserver, the server's own API groups come first in the delegation
// chain and apiextensions-apiserver after them: what they do not serve (the
// CustomResourceDefinitions, the custom resources) is passed to it, behind
// the same handler chain.
func (c CompletedConfig) New() (*Server, error) {
	startup := c.Extra.startup
	extensions, err := c.Extensions.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("apiextensions-apiserver: %w", err)
	}
	startup.Step("apiextensions-apiserver built")
	generic, err := c.Generic.New("mini-apiserver", extensions.GenericAPIServer)
	if err != nil {
		return nil, err
	}
	if err := c.installAPIs(generic); err != nil {
		return nil, err
	}
	startup.Step("API groups installed")
	// kube's jwks_uri is on the external address; with no advertise
	// address here it is the one the server is reached at.
	external := c.Generic.ExternalAddress
	if host, _, err := net.SplitHostPort(external); err != nil || host == "" {
		external = loopbackHostPort(c.Generic.SecureServing)
	}
	installOIDCDiscovery(generic, c.Extra.ServiceAccountTokens, external)
	if err := c.installIdentityLease(generic); err != nil {
		return nil, err
	}
	bg := c.Extra.background
	loopbackRBAC, err := rbacclient.NewForConfig(bg.loopbackConfig(c.Generic.LoopbackClientConfig))
	if err != nil {
		return nil, err
	}
	aggregation, err := clusterroleaggregation.New(c.Generic.SharedInformerFactory.Rbac().V1().ClusterRoles(), loopbackRBAC)
	if err != nil {
		return nil, err
	}

	s := &Server{Generic: generic, extensions: extensions, config: c, ServingURL: "https://" + loopbackHostPort(c.Generic.SecureServing), ready: make(chan struct{})}
	s.openAPI = installLazyOpenAPI(generic, extensions, c.Generic.Config, s.ready, bg.ctx)
	if c.Extra.returnIdleMemory {
		s.openAPI.built = freeOSMemory
	}
	if err := installLegacyDiscovery(generic.DiscoveryGroupManager, extensions); err != nil {
		return nil, err
	}
	factory := c.Generic.SharedInformerFactory
	s.informers.namespaces = factory.Core().V1().Namespaces()
	s.informers.clusterRoles = factory.Rbac().V1().ClusterRoles()
	s.informers.clusterRoleBindings = factory.Rbac().V1().ClusterRoleBindings()
	// Asked for before the factory starts, so that it starts them.
	s.informers.namespaces.Informer()
	s.informers.clusterRoles.Informer()
	s.informers.clusterRoleBindings.Informer()
	hooks := []struct {
		name string
		hook genericapiserver.PostStartHookFunc
	}{
		{"storage-readiness", generic.StorageReadinessHook.Hook},
		{"start-informers", func(ctx genericapiserver.PostStartHookContext) error {
			c.Generic.SharedInformerFactory.Start(bg.context(ctx).Done())
			return nil
		}},
		{"bootstrap-namespaces", s.bootstrapNamespaces},
		{"rbac/bootstrap-roles", s.bootstrapRBAC},
		{"start-audit-sink-informer", func(ctx genericapiserver.PostStartHookContext) error {
			if c.Extra.AuditSinks == nil {
				return nil
			}
			return runAuditSinkInformer(bg.context(ctx), bg.loopbackConfig(ctx.LoopbackClientConfig), c.Extra.AuditSinks)
		}},
		{"start-clusterrole-aggregation-controller", func(ctx genericapiserver.PostStartHookContext) error {
			go aggregation.Run(bg.context(ctx))
			return nil
		}},
		{"start-namespace-controller", s.startNamespaceController},
		{"start-controller-manager-controllers", s.startControllerManagerControllers},
		{"report-ready", s.reportReady},
	}
	for _, h := range hooks {
		if err := generic.AddPostStartHook(h.name, h.hook); err != nil {
			return nil, err
		}
	}
	if err := generic.AddPreShutdownHook("stop-in-process-clients", bg.stop); err != nil {
		return nil, err
	}
	return s, nil
}

// Run serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	startup := s.config.Extra.startup
	prepared := s.Generic.PrepareRun()
	startup.Step("prepared to run")
	// The server's own informers list through the in-process listener,
	// and the port serves once those the post-start hooks wait for have:
	// apiextensions-apiserver's hooks poll theirs every 100 ms from the
	// moment the port serves, and one that lists through the port is never
	// synced at the first check. A client meanwhile waits in the port's
	// backlog. Should they not sync, the hooks wait for them as before.
	bg := s.config.Extra.background
	bg.serveInProcess(s.Generic.Handler)
	s.config.Generic.SharedInformerFactory.Start(bg.ctx.Done())
	s.extensions.Informers.Start(bg.ctx.Done())
	synced := []cache.InformerSynced{s.extensions.Informers.Apiextensions().V1().CustomResourceDefinitions().Informer().HasSynced,
		s.informers.namespaces.Informer().HasSynced, s.informers.clusterRoles.Informer().HasSynced, s.informers.clusterRoleBindings.Informer().HasSynced}
	_ = wait.PollUntilContextTimeout(ctx, time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		for _, ok := range synced {
			if !ok() {
				return false, nil
			}
		}
		return true, nil
	})
	startup.Step("in-process informers synced")
	err := prepared.RunWithContext(ctx)
	s.openAPI.wait()
	return err
}

func (s *Server) startNamespaceController(ctx genericapiserver.PostStartHookContext) error {
	cfg := s.config.Extra.ControllerConfigs[NamespaceControllerUser]
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	go nscontroller.New(client, metadataClient).Run(s.config.Extra.background.context(ctx))
	return nil
}

// startControllerManagerControllers starts what kube-controller-manager
// runs and users rely on here: the serviceaccount controller, the
// root-ca-cert-publisher and the validatingadmissionpolicy-status
// controller, each with its own identity.
func (s *Server) startControllerManagerControllers(ctx genericapiserver.PostStartHookContext) error {
	clients := map[string]kubernetes.Interface{}
	for _, user := range []string{ServiceAccountControllerUser, RootCAPublisherUser, PolicyStatusControllerUser} {
		client, err := kubernetes.NewForConfig(s.config.Extra.ControllerConfigs[user])
		if err != nil {
			return err
		}
		clients[user] = client
	}
	ctrl := s.config.Extra.background.context(ctx)
	// After the server is ready, as kube-controller-manager starts after
	// kube-apiserver: their writes in every namespace of a new data
	// directory would otherwise compete with the bootstrap that readiness
	// waits for. A pod created meanwhile waits for its default account in
	// the ServiceAccount admission, as on kube.
	go func() {
		select {
		case <-s.ready:
		case <-ctrl.Done():
			return
		}
		go namespacedefaults.RunServiceAccounts(ctrl, clients[ServiceAccountControllerUser])
		go namespacedefaults.RunRootCAPublisher(ctrl, clients[RootCAPublisherUser], s.config.Extra.RootCA)
		go policystatus.Run(ctrl, clients[PolicyStatusControllerUser], generatedopenapi.GetOpenAPIDefinitions, api.NewOpenAPIScheme())
	}()
	return nil
}

// reportReady logs once how long the process took to be ready, and closes
// s.ready. It asks
// /readyz of the handler behind the filter chain, so the server's own
// polling is neither authenticated nor audited: kube-apiserver writes no
// audit event of its own start-up, and neither does this.
func (s *Server) reportReady(ctx genericapiserver.PostStartHookContext) error {
	readyz := s.Generic.Handler.NonGoRestfulMux
	go func() {
		_ = wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil)
			if err != nil {
				return false, err
			}
			var w statusWriter
			readyz.ServeHTTP(&w, req)
			if w.code != http.StatusOK {
				return false, nil
			}
			startup := s.config.Extra.startup
			startup.Step("ready")
			startup.Log()
			klog.InfoS(fmt.Sprintf("ready in %dms", time.Since(processStart).Milliseconds()), "url", s.ServingURL)
			close(s.ready)
			return true, nil
		})
	}()
	return nil
}

// freeOSMemory is debug.FreeOSMemory; a test counts the calls instead.
var freeOSMemory = debug.FreeOSMemory

// statusWriter keeps only the status of a response.
type statusWriter struct {
	code   int
	header http.Header
}

func (w *statusWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// installOIDCDiscovery serves the service-account issuer's discovery
// documents, as kube-apiserver does when its issuer is an https URL (for
// another, kube logs the error and serves none).
func installOIDCDiscovery(s *genericapiserver.GenericAPIServer, sa *saauth.Config, externalAddress string) {
	if u, err := url.Parse(sa.Issuers[0]); err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
		klog.ErrorS(err, "Failed to build OIDC metadata: the issuer is not an https URL without query or fragment", "issuer", sa.Issuers[0])
		return
	}
	d, err := saauth.NewDiscovery(sa.Issuers[0], sa.JWKSURI, externalAddress, sa.Keys)
	if err != nil {
		klog.ErrorS(err, "Failed to build OIDC metadata")
		return
	}
	d.Install(s.Handler.NonGoRestfulMux)
}
