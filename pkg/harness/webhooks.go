package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// WebhookInstallOptions install a test's admission webhook configurations
// before Start returns, pointed at the webhook server the test runs, as
// controller-runtime's envtest does with its WebhookInstallOptions: a
// certificate for LocalServingHost is written to LocalServingCertDir (for
// the test's server to serve), every webhook's caBundle becomes the CA that
// signed it, and a clientConfig.service becomes the URL
// https://LocalServingHost:LocalServingPort/PATH (there are no Services
// here; envtest does the same for services with a path, here also for one
// without, as "/").
type WebhookInstallOptions struct {
	// Paths are files or directories of YAML or JSON documents (several
	// per file); their MutatingWebhookConfigurations and
	// ValidatingWebhookConfigurations (admissionregistration.k8s.io/v1)
	// are installed, other kinds skipped.
	Paths []string
	// MutatingWebhooks and ValidatingWebhooks are installed too.
	MutatingWebhooks   []admissionregistrationv1.MutatingWebhookConfiguration
	ValidatingWebhooks []admissionregistrationv1.ValidatingWebhookConfiguration

	// LocalServingHost is where the test's webhook server listens; Start
	// sets 127.0.0.1 when empty.
	LocalServingHost string
	// LocalServingPort is its port; Start picks a free one when zero.
	LocalServingPort int
	// LocalServingCertDir holds tls.crt and tls.key for the host; Start
	// writes them to <data-dir>/webhook-serving when empty.
	LocalServingCertDir string
	// LocalServingCAData is the PEM CA that signed them, set by Start.
	LocalServingCAData []byte
}

// prepare makes the certificate, picks the port and reads the files: all
// that can fail before the server starts.
func (o *WebhookInstallOptions) prepare(dataDir string) error {
	for _, p := range o.Paths {
		mutating, validating, err := readWebhookConfigurations(p)
		if err != nil {
			return err
		}
		o.MutatingWebhooks = append(o.MutatingWebhooks, mutating...)
		o.ValidatingWebhooks = append(o.ValidatingWebhooks, validating...)
	}
	if o.LocalServingHost == "" {
		o.LocalServingHost = "127.0.0.1"
	}
	if o.LocalServingPort == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(o.LocalServingHost, "0"))
		if err != nil {
			return fmt.Errorf("webhooks: a free port on %s: %w", o.LocalServingHost, err)
		}
		o.LocalServingPort = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	if o.LocalServingCertDir == "" {
		o.LocalServingCertDir = filepath.Join(dataDir, "webhook-serving")
	}
	ca, serving, err := newServing("webhook-serving", o.LocalServingHost)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.LocalServingCertDir, 0o700); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	for name, data := range map[string][]byte{"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM} {
		if err := os.WriteFile(filepath.Join(o.LocalServingCertDir, name), data, 0o600); err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
	}
	o.LocalServingCAData = ca.CertPEM
	for i := range o.MutatingWebhooks {
		for j := range o.MutatingWebhooks[i].Webhooks {
			o.pointAtLocal(&o.MutatingWebhooks[i].Webhooks[j].ClientConfig)
		}
	}
	for i := range o.ValidatingWebhooks {
		for j := range o.ValidatingWebhooks[i].Webhooks {
			o.pointAtLocal(&o.ValidatingWebhooks[i].Webhooks[j].ClientConfig)
		}
	}
	return nil
}

func (o *WebhookInstallOptions) pointAtLocal(cc *admissionregistrationv1.WebhookClientConfig) {
	cc.CABundle = o.LocalServingCAData
	if cc.Service != nil {
		cc.URL, cc.Service = o.localURL(cc.Service.Path), nil
	}
}

// localURL is the test's webhook server's URL for a service's path ("/"
// when it has none).
func (o *WebhookInstallOptions) localURL(path *string) *string {
	url := "https://" + net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
	if path == nil {
		url += "/"
	} else {
		url += *path
	}
	return &url
}

// install creates (or updates) each configuration, naming the one the
// server refused.
func (o *WebhookInstallOptions) install(ctx context.Context, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mutating := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	for _, c := range o.MutatingWebhooks {
		if err := createOrUpdate(ctx, &c, mutating.Create, mutating.Get, mutating.Update); err != nil {
			return fmt.Errorf("webhooks: MutatingWebhookConfiguration %q: %w", c.Name, err)
		}
	}
	validating := client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	for _, c := range o.ValidatingWebhooks {
		if err := createOrUpdate(ctx, &c, validating.Create, validating.Get, validating.Update); err != nil {
			return fmt.Errorf("webhooks: ValidatingWebhookConfiguration %q: %w", c.Name, err)
		}
	}
	return nil
}

// readWebhookConfigurations reads the webhook configurations of path, a
// file or a directory's .yaml, .yml and .json files.
func readWebhookConfigurations(path string) ([]admissionregistrationv1.MutatingWebhookConfiguration, []admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var mutating []admissionregistrationv1.MutatingWebhookConfiguration
	var validating []admissionregistrationv1.ValidatingWebhookConfiguration
	err := eachManifest(path, func(m manifest) error {
		var into interface{}
		switch m.Kind {
		case "MutatingWebhookConfiguration":
			mutating = append(mutating, admissionregistrationv1.MutatingWebhookConfiguration{})
			into = &mutating[len(mutating)-1]
		case "ValidatingWebhookConfiguration":
			validating = append(validating, admissionregistrationv1.ValidatingWebhookConfiguration{})
			into = &validating[len(validating)-1]
		default:
			return nil
		}
		return m.decode(admissionregistrationv1.SchemeGroupVersion.String(), into)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("webhooks: %w", err)
	}
	return mutating, validating, nil
}
