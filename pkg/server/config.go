package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	storagefactory "k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/admission/podsecurity"
	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/auth"
	"github.com/mini-apiserver/mini-apiserver/pkg/etcd"
	generatedopenapi "github.com/mini-apiserver/mini-apiserver/pkg/generated/openapi"
)

// Identities of the server's built-in actors. The namespace controller
// acts as kube-controller-manager's does with per-controller credentials, so
// its requests read in audit as they would on a real cluster.
const (
	AdminUser               = "kubernetes-admin"
	NamespaceControllerUser = "system:serviceaccount:kube-system:namespace-controller"
)

// SystemNamespaces exist from the first start and cannot be deleted.
var SystemNamespaces = []string{
	metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease,
}

// Config is everything New needs; it owns the embedded etcd (if any) until
// the server it builds is run.
type Config struct {
	Generic *genericapiserver.RecommendedConfig

	DataDir string
	// KubeconfigPath is the generated admin kubeconfig ("" when the user
	// brings their own serving certificate and credentials).
	KubeconfigPath string
	// NamespaceControllerConfig is the client config the namespace
	// controller uses, authenticated as NamespaceControllerUser.
	NamespaceControllerConfig *rest.Config
	// IgnoredFlags are kube-apiserver flags that were given but do nothing.
	IgnoredFlags []string
	// WrapAPIHandler, when set, wraps the API handler inside the default
	// handler chain (inside audit, authentication and authorization). The
	// in-process harness uses it to inject handlers, e.g. one that panics.
	WrapAPIHandler func(http.Handler) http.Handler

	embeddedEtcd *etcd.Server
}

// Close releases what Config started, for a config that is never run.
func (c *Config) Close() {
	if c.embeddedEtcd != nil {
		c.embeddedEtcd.Close()
		c.embeddedEtcd = nil
	}
}

// etcdPreflightTimeout bounds how long start-up waits for an external etcd.
const etcdPreflightTimeout = 10 * time.Second

// Config builds the server configuration. On error nothing it started is
// left running.
func (o *Options) Config() (_ *Config, err error) {
	if err := ensureDataDir(o.DataDir); err != nil {
		return nil, err
	}
	cfg := &Config{DataDir: o.DataDir, IgnoredFlags: o.IgnoredFlagsSet()}
	defer func() {
		if err != nil {
			cfg.Close()
		}
	}()

	certDir := o.SecureServing.ServerCert.CertDirectory
	userServingCert := o.SecureServing.ServerCert.CertKey.CertFile != ""
	var servingCAPEM []byte
	if !userServingCert {
		ca, err := auth.LoadOrCreateCA(certDir, "ca", "mini-apiserver-ca")
		if err != nil {
			return nil, fmt.Errorf("serving CA in %s: %w", certDir, err)
		}
		hosts, ips := o.servingHosts()
		if _, err := auth.LoadOrCreateLeaf(certDir, "apiserver", ca, auth.ServingTemplate("mini-apiserver", hosts, ips)); err != nil {
			return nil, fmt.Errorf("serving certificate in %s: %w", certDir, err)
		}
		o.SecureServing.ServerCert.CertKey.CertFile = filepath.Join(certDir, "apiserver.crt")
		o.SecureServing.ServerCert.CertKey.KeyFile = filepath.Join(certDir, "apiserver.key")
		servingCAPEM = ca.CertPEM
	} else if servingCAPEM, err = os.ReadFile(o.SecureServing.ServerCert.CertKey.CertFile); err != nil {
		return nil, fmt.Errorf("--tls-cert-file: %w", err)
	}

	clientCA, err := auth.LoadOrCreateCA(certDir, "client-ca", "mini-apiserver-client-ca")
	if err != nil {
		return nil, fmt.Errorf("client CA in %s: %w", certDir, err)
	}
	admin, err := auth.LoadOrCreateLeaf(certDir, "admin", clientCA, auth.ClientTemplate(AdminUser, "system:masters"))
	if err != nil {
		return nil, fmt.Errorf("admin credential in %s: %w", certDir, err)
	}
	controllerCred, err := auth.NewSigned(clientCA, auth.ClientTemplate(NamespaceControllerUser,
		"system:serviceaccounts", "system:serviceaccounts:kube-system"))
	if err != nil {
		return nil, fmt.Errorf("namespace controller credential: %w", err)
	}

	c := genericapiserver.NewRecommendedConfig(api.Codecs)
	cfg.Generic = c
	if err := o.GenericServerRun.ApplyTo(&c.Config); err != nil {
		return nil, err
	}
	if err := o.SecureServing.SecureServingOptions.ApplyTo(&c.SecureServing); err != nil {
		return nil, fmt.Errorf("--bind-address/--secure-port: %w", err)
	}
	if c.LoopbackClientConfig, err = loopbackClientConfig(c.SecureServing); err != nil {
		return nil, err
	}
	// A failed start must release the port it bound.
	defer func() {
		if err != nil && c.SecureServing != nil && c.SecureServing.Listener != nil {
			c.SecureServing.Listener.Close()
		}
	}()

	// The audit pipeline is the library's: policy, log and webhook backends,
	// batching, truncation and the audit filter of the handler chain.
	if err := o.Audit.ApplyTo(&c.Config); err != nil {
		return nil, err
	}

	authn, clientCAProvider, err := o.Authentication.New(clientCA.CertPEM)
	if err != nil {
		return nil, err
	}
	c.Authentication.Authenticator = authn
	if err := c.Authentication.ApplyClientCert(clientCAProvider, c.SecureServing); err != nil {
		return nil, err
	}
	authz, err := o.Authorization.New(NamespaceControllerUser)
	if err != nil {
		return nil, err
	}
	c.Authorization.Authorizer = authz
	genericapiserver.AuthorizeClientBearerToken(c.LoopbackClientConfig, &c.Authentication, &c.Authorization)

	loopbackClient, err := kubernetes.NewForConfig(c.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	c.ClientConfig = c.LoopbackClientConfig
	c.SharedInformerFactory = informers.NewSharedInformerFactory(loopbackClient, 10*time.Minute)
	if err := o.Features.ApplyTo(&c.Config, loopbackClient, c.SharedInformerFactory); err != nil {
		return nil, err
	}

	// Storage comes after the port is bound, so a port in use fails before
	// any etcd is started.
	if err := o.configureEtcd(cfg); err != nil {
		return nil, err
	}
	resourceConfig := serverstorage.NewResourceConfig()
	resourceConfig.EnableVersions(corev1.SchemeGroupVersion, authenticationv1.SchemeGroupVersion, authorizationv1.SchemeGroupVersion)
	storageFactory := serverstorage.NewDefaultStorageFactory(o.Etcd.StorageConfig, o.Etcd.DefaultStorageMediaType,
		api.Codecs, serverstorage.NewDefaultResourceEncodingConfig(api.Scheme), resourceConfig, nil)
	if err := o.Etcd.ApplyWithStorageFactoryTo(storageFactory, &c.Config); err != nil {
		return nil, err
	}

	namer := openapinamer.NewDefinitionNamer(api.Scheme)
	c.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIV3Config.Info.Title = "Kubernetes"
	c.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIConfig.Info.Title = "Kubernetes"

	if c.AdmissionControl, err = newAdmission(c, loopbackClient); err != nil {
		return nil, err
	}

	servingURL := fmt.Sprintf("https://%s", loopbackHostPort(c.SecureServing))
	cfg.NamespaceControllerConfig = &rest.Config{
		Host: servingURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: servingCAPEM, CertData: controllerCred.CertPEM, KeyData: controllerCred.KeyPEM,
		},
		UserAgent: "kube-controller-manager/namespace-controller",
	}
	if userServingCert {
		// The user's certificate may not name loopback; trust the server the
		// way the loopback client does.
		cfg.NamespaceControllerConfig.TLSClientConfig.Insecure = true
		cfg.NamespaceControllerConfig.TLSClientConfig.CAData = nil
	}
	cfg.KubeconfigPath = filepath.Join(o.DataDir, "admin.kubeconfig")
	if err := auth.WriteKubeconfig(cfg.KubeconfigPath, servingURL, servingCAPEM, admin); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loopbackClientConfig does what SecureServingOptionsWithLoopback does, with
// an ECDSA key instead of RSA-2048: generating that key was the largest
// single cost of start-up.
func loopbackClientConfig(s *genericapiserver.SecureServingInfo) (*rest.Config, error) {
	kp, err := auth.NewCA(genericapiserver.LoopbackClientServerNameOverride)
	if err != nil {
		return nil, err
	}
	leaf, err := auth.NewSigned(kp, auth.ServingTemplate(genericapiserver.LoopbackClientServerNameOverride,
		[]string{genericapiserver.LoopbackClientServerNameOverride}, nil))
	if err != nil {
		return nil, err
	}
	sni, err := dynamiccertificates.NewStaticSNICertKeyContent("self-signed loopback", leaf.CertPEM, leaf.KeyPEM, genericapiserver.LoopbackClientServerNameOverride)
	if err != nil {
		return nil, fmt.Errorf("loopback certificate: %w", err)
	}
	// First, so it wins over any other certificate for that name.
	s.SNICerts = append([]dynamiccertificates.SNICertKeyContentProvider{sni}, s.SNICerts...)
	return s.NewLoopbackClientConfig(uuid.New().String(), kp.CertPEM)
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

// configureEtcd starts the embedded etcd when no --etcd-servers are given,
// and otherwise checks within a bounded time that the external one answers.
func (o *Options) configureEtcd(cfg *Config) error {
	transport := &o.Etcd.StorageConfig.Transport
	if len(transport.ServerList) == 0 {
		files, err := embeddedEtcdPKI(filepath.Join(o.DataDir, "pki"))
		if err != nil {
			return err
		}
		srv, err := etcd.Start(etcd.Config{Dir: filepath.Join(o.DataDir, "etcd"), TLS: &files.server})
		if err != nil {
			return err
		}
		transport.CertFile, transport.KeyFile, transport.TrustedCAFile = files.client.CertFile, files.client.KeyFile, files.client.CAFile
		cfg.embeddedEtcd = srv
		transport.ServerList = []string{srv.ClientURL}
		return nil
	}
	return checkEtcd(o.Etcd.StorageConfig, etcdPreflightTimeout)
}

type etcdPKI struct{ server, client etcd.TLSFiles }

// embeddedEtcdPKI creates (once) the embedded etcd's own CA, serving and
// client certificates: no port of the process answers without TLS, and only
// the holder of a key in the data directory reaches the data.
func embeddedEtcdPKI(dir string) (etcdPKI, error) {
	ca, err := auth.LoadOrCreateCA(dir, "etcd-ca", "mini-apiserver-etcd-ca")
	if err != nil {
		return etcdPKI{}, fmt.Errorf("embedded etcd CA in %s: %w", dir, err)
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	if _, err := auth.LoadOrCreateLeaf(dir, "etcd-server", ca, auth.PeerTemplate("etcd", []string{"localhost"}, loopback)); err != nil {
		return etcdPKI{}, fmt.Errorf("embedded etcd certificate in %s: %w", dir, err)
	}
	if _, err := auth.LoadOrCreateLeaf(dir, "etcd-client", ca, auth.ClientTemplate("mini-apiserver")); err != nil {
		return etcdPKI{}, fmt.Errorf("embedded etcd client certificate in %s: %w", dir, err)
	}
	f := func(name string) etcd.TLSFiles {
		return etcd.TLSFiles{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"), CAFile: filepath.Join(dir, "etcd-ca.crt")}
	}
	return etcdPKI{server: f("etcd-server"), client: f("etcd-client")}, nil
}

func checkEtcd(sc storagebackend.Config, timeout time.Duration) error {
	prober, err := storagefactory.CreateProber(sc)
	if err != nil {
		return fmt.Errorf("cannot reach etcd at --etcd-servers=%s: %w", strings.Join(sc.Transport.ServerList, ","), err)
	}
	defer prober.Close()
	var lastErr error
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if lastErr = prober.Probe(probeCtx); lastErr != nil {
			klog.V(2).InfoS("etcd not reachable yet", "servers", sc.Transport.ServerList, "err", lastErr)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if lastErr == nil {
			lastErr = err
		}
		return fmt.Errorf("cannot reach etcd at --etcd-servers=%s within %s: %w", strings.Join(sc.Transport.ServerList, ","), timeout, lastErr)
	}
	return nil
}

// newAdmission builds kube's NamespaceLifecycle admission plugin, which
// rejects objects in missing or terminating namespaces and the deletion of
// system namespaces (kube-node-lease is protected too: nothing here would
// recreate it), followed by PodSecurity.
func newAdmission(c *genericapiserver.RecommendedConfig, client kubernetes.Interface) (admission.Interface, error) {
	nsLifecycle, err := lifecycle.NewLifecycle(sets.New(SystemNamespaces...))
	if err != nil {
		return nil, err
	}
	podSecurity, err := podsecurity.New()
	if err != nil {
		return nil, err
	}
	init := initializer.New(client, nil, c.SharedInformerFactory, c.Authorization.Authorizer, c.FeatureGate, c.EffectiveVersion, c.DrainedNotify(), nil)
	plugins := []struct {
		name   string
		plugin admission.Interface
	}{{lifecycle.PluginName, nsLifecycle}, {podsecurity.PluginName, podSecurity}}
	var chain []admission.Interface
	for _, p := range plugins {
		init.Initialize(p.plugin)
		if err := admission.ValidateInitialization(p.plugin); err != nil {
			return nil, fmt.Errorf("admission plugin %s: %w", p.name, err)
		}
		chain = append(chain, p.plugin)
	}
	return admission.NewChainHandler(chain...), nil
}

func loopbackHostPort(s *genericapiserver.SecureServingInfo) string {
	host, port, err := s.HostPort()
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if port == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
