// Package kubeconfig writes the kubeconfig files mini-apiserver and its
// tools hand out: the admin credential, a user's, and the
// --audit-webhook-config-file that points the server at a receiver. There is
// one writer, on client-go's clientcmd types, so every file is what kubectl
// and the library's webhook client read.
package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Config is the one cluster, user and context a file holds.
type Config struct {
	// Name names the cluster and the context; User names the credential.
	// Both default to "default".
	Name, User string
	// Server is the URL: an API server, or a webhook receiver's endpoint.
	Server string
	// CAData is the PEM bundle trusted for Server; Insecure trusts anything.
	CAData   []byte
	Insecure bool
	// CertData and KeyData are a client certificate; Token a bearer token.
	CertData, KeyData []byte
	Token             string
	// Namespace is the context's default namespace.
	Namespace string
}

// FromREST takes what a client-go configuration holds in memory.
func FromREST(name string, c *rest.Config) Config {
	return Config{
		Name: name, Server: c.Host, CAData: c.CAData, Insecure: c.Insecure,
		CertData: c.CertData, KeyData: c.KeyData, Token: c.BearerToken,
	}
}

// Write writes c to path with mode 0600 (it may hold a key).
func Write(path string, c Config) error {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.User == "" {
		c.User = "default"
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.CAData, InsecureSkipTLSVerify: c.Insecure}
	cfg.AuthInfos[c.User] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.Token}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.User, Namespace: c.Namespace}
	cfg.CurrentContext = c.Name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return nil
}
