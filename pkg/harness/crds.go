package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// CRDInstallOptions install CustomResourceDefinitions before Start
// returns, as controller-runtime's envtest does with its
// CRDInstallOptions: each is created (or replaces what a restart on the
// same data directory left), and Start waits until each is Established and
// its resources are in discovery, so a test's clients and REST mappers find
// them. With Options.Webhooks set, a conversion webhook's clientConfig is
// pointed at the test's webhook server as the admission webhooks' are.
type CRDInstallOptions struct {
	// Paths are files or directories of YAML or JSON documents (several
	// per file); their CustomResourceDefinitions (apiextensions.k8s.io/v1)
	// are installed, other kinds skipped.
	Paths []string
	// CRDs are installed too.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// ErrorIfPathMissing fails Start for a path that does not exist;
	// otherwise it is skipped, as envtest skips it.
	ErrorIfPathMissing bool
	// MaxTime bounds the wait for the CRDs to be served; default 10s.
	MaxTime time.Duration

	// from names where each CRD of Paths was read, for errors.
	from map[string]string
}

// prepare reads the files and points conversion webhooks at the test's
// webhook server: all that can fail before the server starts.
func (o *CRDInstallOptions) prepare(webhooks *WebhookInstallOptions) error {
	o.from = map[string]string{}
	for _, p := range o.Paths {
		err := eachManifest(p, func(m manifest) error {
			if m.Kind != "CustomResourceDefinition" {
				return nil
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := m.decode(apiextensionsv1.SchemeGroupVersion.String(), crd); err != nil {
				return err
			}
			o.from[crd.Name] = fmt.Sprintf("%s, document %d", m.File, m.Doc)
			o.CRDs = append(o.CRDs, crd)
			return nil
		})
		if errors.Is(err, os.ErrNotExist) && !o.ErrorIfPathMissing {
			continue
		}
		if err != nil {
			return fmt.Errorf("crds: %w", err)
		}
	}
	if webhooks == nil {
		return nil
	}
	for _, crd := range o.CRDs {
		conversion := crd.Spec.Conversion
		if conversion == nil || conversion.Strategy != apiextensionsv1.WebhookConverter || conversion.Webhook == nil || conversion.Webhook.ClientConfig == nil {
			continue
		}
		cc := conversion.Webhook.ClientConfig
		cc.CABundle = webhooks.LocalServingCAData
		if cc.Service != nil {
			cc.URL, cc.Service = webhooks.localURL(cc.Service.Path), nil
		}
	}
	return nil
}

// InstallCRDs installs o's CRDs on the server cfg reaches (this harness's,
// a mini-apiserver binary's, or any cluster's) and waits until each is
// served, as Start does with Options.CRDs.
func InstallCRDs(ctx context.Context, cfg *rest.Config, o *CRDInstallOptions) error {
	if err := o.prepare(nil); err != nil {
		return err
	}
	return o.install(ctx, cfg)
}

// install creates each CRD and waits until all are served, naming the CRD
// (and its file) the server refused or that did not become Established.
func (o *CRDInstallOptions) install(ctx context.Context, cfg *rest.Config) error {
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	// All at once: each create is some 20 ms of the server's, mostly
	// compiling the schema, and a project has many CRDs. The first error,
	// in the order given, is reported.
	errs := make([]error, len(o.CRDs))
	var wg sync.WaitGroup
	for i, crd := range o.CRDs {
		wg.Go(func() {
			if err := createOrUpdate(ctx, crd, crds.Create, crds.Get, crds.Update); err != nil {
				errs[i] = fmt.Errorf("crds: %s: %w", o.describe(crd.Name), err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	maxTime := o.MaxTime
	if maxTime == 0 {
		maxTime = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, maxTime)
	defer cancel()
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	for _, crd := range o.CRDs {
		var why string
		err := wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got, err := crds.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			established := false
			why = "not Established"
			for _, c := range got.Status.Conditions {
				switch {
				case c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse:
					return false, fmt.Errorf("names not accepted: %s: %s", c.Reason, c.Message)
				case c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue:
					established = true
				}
			}
			if !established {
				return false, nil
			}
			for _, v := range got.Spec.Versions {
				if !v.Served {
					continue
				}
				why = fmt.Sprintf("%s/%s %s not in discovery", got.Spec.Group, v.Name, got.Status.AcceptedNames.Plural)
				resources, err := disco.ServerResourcesForGroupVersion(got.Spec.Group + "/" + v.Name)
				if apierrors.IsNotFound(err) {
					return false, nil
				}
				if err != nil {
					return false, err
				}
				found := false
				for _, r := range resources.APIResources {
					found = found || r.Name == got.Status.AcceptedNames.Plural
				}
				if !found {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			if wait.Interrupted(err) {
				err = fmt.Errorf("%s after %s", why, maxTime)
			}
			return fmt.Errorf("crds: %s: %w", o.describe(crd.Name), err)
		}
	}
	return nil
}

// describe names a CRD and, if it was read from a file, where.
func (o *CRDInstallOptions) describe(name string) string {
	if from, ok := o.from[name]; ok {
		return fmt.Sprintf("CustomResourceDefinition %q (%s)", name, from)
	}
	return fmt.Sprintf("CustomResourceDefinition %q", name)
}
