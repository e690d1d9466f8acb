package harness

import (
	"crypto/x509"
	"path/filepath"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/kubeconfig"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// WebhookClient is how the server reaches a webhook receiver: the CA it
// trusts and the client certificate it presents, if any.
type WebhookClient struct {
	CAData            []byte
	CertData, KeyData []byte
}

// WriteWebhookKubeconfig writes the kubeconfig-format file that
// --audit-webhook-config-file takes, for a receiver at url (its full
// endpoint, e.g. https://127.0.0.1:8443/audit).
func WriteWebhookKubeconfig(path, url string, client WebhookClient) error {
	return kubeconfig.Write(path, kubeconfig.Config{
		Name: "sink", User: "apiserver", Server: url,
		CAData: client.CAData, CertData: client.CertData, KeyData: client.KeyData,
	})
}

// StartTLSSink starts an HTTPS audit sink with a CA generated for it and
// writes, in dir, the kubeconfig-format file --audit-webhook-config-file
// takes to reach it. With clientCert the sink requires a client certificate,
// which the file carries. It returns the sink and the file's path.
func StartTLSSink(dir string, clientCert bool) (*sink.Sink, string, error) {
	s, client, err := StartTLSReceiver(clientCert)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "audit-webhook.kubeconfig")
	if err := WriteWebhookKubeconfig(path, s.URL()+"/audit", client); err != nil {
		s.Close()
		return nil, "", err
	}
	return s, path, nil
}

// StartTLSReceiver starts an HTTPS audit sink with a CA generated for it
// and returns how a server reaches it (the CA, and with clientCert the
// client certificate the sink requires).
func StartTLSReceiver(clientCert bool) (*sink.Sink, WebhookClient, error) {
	ca, serving, err := newServing("audit-sink", "127.0.0.1")
	if err != nil {
		return nil, WebhookClient{}, err
	}
	cert, err := serving.TLSCertificate()
	if err != nil {
		return nil, WebhookClient{}, err
	}
	var clientCAs *x509.CertPool
	client := WebhookClient{CAData: ca.CertPEM}
	if clientCert {
		clientCA, err := pki.NewCA("audit-sink-client-ca")
		if err != nil {
			return nil, WebhookClient{}, err
		}
		cred, err := pki.NewSigned(clientCA, pki.ClientTemplate("mini-apiserver"))
		if err != nil {
			return nil, WebhookClient{}, err
		}
		clientCAs = x509.NewCertPool()
		clientCAs.AddCert(clientCA.Cert)
		client.CertData, client.KeyData = cred.CertPEM, cred.KeyPEM
	}
	s, err := sink.Start(sink.Options{TLS: sink.ClientCATLS(cert, clientCAs)})
	if err != nil {
		return nil, WebhookClient{}, err
	}
	return s, client, nil
}
