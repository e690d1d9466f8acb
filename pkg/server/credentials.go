package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"

	saauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
	"github.com/mini-apiserver/mini-apiserver/pkg/kubeconfig"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
	"k8s.io/client-go/kubernetes"
)

// credentials are the certificates the server serves with and hands out.
type credentials struct {
	// servingCA is what clients trust: the generated CA, or the user's
	// --tls-cert-file when they bring their own.
	servingCA       []byte
	userServingCert bool
	// servingCert is the certificate served: --tls-cert-file or the one
	// generated in the cert directory.
	servingCert genericoptions.CertKey
	clientCA    *pki.KeyPair
	admin       *pki.KeyPair
	// controllers are the in-process controllers' credentials, by user.
	controllers map[string]*pki.KeyPair
}

// loadOrCreateCredentials generates, once per data directory, the serving
// CA and certificate (unless --tls-cert-file is given), the client CA and
// the admin credential; the controllers' credentials are new on every
// start.
func (o CompletedOptions) loadOrCreateCredentials() (*credentials, error) {
	certDir := o.SecureServing.ServerCert.CertDirectory
	creds := &credentials{userServingCert: !o.generateServingCert, servingCert: o.SecureServing.ServerCert.CertKey}
	if o.generateServingCert {
		ca, err := pki.LoadOrCreateCA(certDir, "ca", "mini-apiserver-ca")
		if err != nil {
			return nil, fmt.Errorf("serving CA in %s: %w", certDir, err)
		}
		hosts, ips := o.servingHosts()
		if _, err := pki.LoadOrCreateLeaf(certDir, "apiserver", ca, pki.ServingTemplate("mini-apiserver", hosts, ips)); err != nil {
			return nil, fmt.Errorf("serving certificate in %s: %w", certDir, err)
		}
		creds.servingCert.CertFile, creds.servingCert.KeyFile = pki.Paths(certDir, "apiserver")
		creds.servingCA = ca.CertPEM
	} else {
		var err error
		if creds.servingCA, err = os.ReadFile(o.SecureServing.ServerCert.CertKey.CertFile); err != nil {
			return nil, fmt.Errorf("--tls-cert-file: %w", err)
		}
	}
	var err error
	if creds.clientCA, err = pki.LoadOrCreateCA(certDir, "client-ca", "mini-apiserver-client-ca"); err != nil {
		return nil, fmt.Errorf("client CA in %s: %w", certDir, err)
	}
	if creds.admin, err = pki.LoadOrCreateLeaf(certDir, "admin", creds.clientCA, pki.ClientTemplate(AdminUser, "system:masters")); err != nil {
		return nil, fmt.Errorf("admin credential in %s: %w", certDir, err)
	}
	creds.controllers = map[string]*pki.KeyPair{}
	for _, user := range controllerUsers {
		if creds.controllers[user], err = pki.NewSigned(creds.clientCA, pki.ClientTemplate(user,
			"system:serviceaccounts", "system:serviceaccounts:kube-system")); err != nil {
			return nil, fmt.Errorf("%s credential: %w", user, err)
		}
	}
	return creds, nil
}

// applyServing binds the port (or takes listener) with the serving
// certificate and builds the loopback client; it returns the listener.
func (o CompletedOptions) applyServing(c *genericapiserver.RecommendedConfig, creds *credentials, listener net.Listener) (net.Listener, error) {
	// A copy: the library writes the listener and port it binds back into
	// the options.
	serving := *o.SecureServing.SecureServingOptions
	serving.ServerCert.CertKey = creds.servingCert
	serving.Listener = listener
	if err := serving.ApplyTo(&c.SecureServing); err != nil {
		return listener, fmt.Errorf("--bind-address/--secure-port: %w", err)
	}
	var err error
	c.LoopbackClientConfig, err = loopbackClientConfig(c.SecureServing)
	return serving.Listener, err
}

// applyAuth sets kube-apiserver's authenticators and authorizers.
func (o CompletedOptions) applyAuth(c *genericapiserver.RecommendedConfig, creds *credentials, sa *saauth.Config, loopback kubernetes.Interface) (authorizer.RuleResolver, error) {
	tokens, err := saauth.NewAuthenticator(sa.Issuers, sa.Keys, sa.APIAudiences, saauth.NewGetter(c.SharedInformerFactory, loopback))
	if err != nil {
		return nil, err
	}
	c.Authentication.APIAudiences = sa.APIAudiences
	authn, clientCAProvider, err := o.Authentication.New(creds.clientCA.CertPEM, tokens)
	if err != nil {
		return nil, err
	}
	c.Authentication.Authenticator = authn
	if err := c.Authentication.ApplyClientCert(clientCAProvider, c.SecureServing); err != nil {
		return nil, err
	}
	authz, rules, err := o.Authorization.New(c.SharedInformerFactory.Rbac().V1(), controllerUsers...)
	if err != nil {
		return nil, err
	}
	c.Authorization.Authorizer = authz
	genericapiserver.AuthorizeClientBearerToken(c.LoopbackClientConfig, &c.Authentication, &c.Authorization)
	return rules, nil
}

// loopbackClientConfig does what SecureServingOptionsWithLoopback does, with
// an ECDSA key instead of RSA-2048: generating that key was the largest
// single cost of start-up.
func loopbackClientConfig(s *genericapiserver.SecureServingInfo) (*rest.Config, error) {
	kp, err := pki.NewCA(genericapiserver.LoopbackClientServerNameOverride)
	if err != nil {
		return nil, err
	}
	leaf, err := pki.NewSigned(kp, pki.ServingTemplate(genericapiserver.LoopbackClientServerNameOverride,
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

// controllerConfig is how an in-process controller reaches the server:
// through the API, with its own identity (user), so what it does is
// authenticated, authorized and audited like any client's.
func (c *credentials) controllerConfig(user, servingURL string) *rest.Config {
	cred := c.controllers[user]
	cfg := &rest.Config{
		Host: servingURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: c.servingCA, CertData: cred.CertPEM, KeyData: cred.KeyPEM,
		},
		UserAgent: "kube-controller-manager/" + strings.TrimPrefix(user, "system:serviceaccount:kube-system:"),
	}
	if c.userServingCert {
		// The user's certificate may not name loopback; trust the server the
		// way the loopback client does.
		cfg.TLSClientConfig.Insecure = true
		cfg.TLSClientConfig.CAData = nil
	}
	return cfg
}

// adminConfig is the system:masters credential as a client configuration.
func (c *credentials) adminConfig(servingURL string) *rest.Config {
	return &rest.Config{Host: servingURL, TLSClientConfig: rest.TLSClientConfig{
		CAData: c.servingCA, CertData: c.admin.CertPEM, KeyData: c.admin.KeyPEM,
	}}
}

// writeAdminKubeconfig writes <dataDir>/admin.kubeconfig (0600) for the
// system:masters credential and returns its path.
func (c *credentials) writeAdminKubeconfig(dataDir, servingURL string) (string, error) {
	path := filepath.Join(dataDir, "admin.kubeconfig")
	err := kubeconfig.Write(path, kubeconfig.Config{
		Name: "mini-apiserver", User: "admin", Namespace: "default",
		Server: servingURL, CAData: c.servingCA, CertData: c.admin.CertPEM, KeyData: c.admin.KeyPEM,
	})
	if err != nil {
		return "", fmt.Errorf("admin %w", err)
	}
	return path, nil
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
