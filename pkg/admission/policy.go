package admission

import (
	"context"
	"io"

	"k8s.io/apiserver/pkg/admission"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	mutatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	validatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/validating"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// The library's webhook and policy plugins are not ready until their
// sources have synced; the request that finds one not ready waits in steps
// of 100 ms, as does a policy source. On a new server the first writes are
// the server's own (system namespaces, bootstrap RBAC) and there is no
// webhook configuration or binding yet, so none can apply: once their cache
// has synced empty, requests pass without waiting for the plugin. With any
// object, or an admission configuration file (it may name manifest files
// of webhooks and policies), every request goes to the plugin.

// noBindings says whether nothing the plugin enforces exists.
type noBindings struct {
	bindings cache.SharedIndexInformer
	// configured is true with --admission-control-config-file.
	configured bool
}

func (n noBindings) holds() bool {
	return n.bindings != nil && !n.configured && n.bindings.HasSynced() && len(n.bindings.GetStore().ListKeys()) == 0
}

type mutatingWebhook struct {
	*mutatingwebhook.Plugin
	noBindings
}

type validatingWebhook struct {
	*validatingwebhook.Plugin
	noBindings
}

type validatingPolicy struct {
	*validatingpolicy.Plugin
	noBindings
}

type mutatingPolicy struct {
	*mutatingpolicy.Plugin
	noBindings
}

// registerWebhooksAndPolicies registers the library's four plugins, each
// behind the check above; configured says an admission configuration file
// is given.
func registerWebhooksAndPolicies(plugins *admission.Plugins, configured func() bool) {
	plugins.Register(validatingpolicy.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := validatingpolicy.NewPlugin(config)
		return &validatingPolicy{Plugin: p, noBindings: noBindings{configured: configured()}}, err
	})
	plugins.Register(mutatingpolicy.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := mutatingpolicy.NewPlugin(config)
		return &mutatingPolicy{Plugin: p, noBindings: noBindings{configured: configured()}}, err
	})
	plugins.Register(mutatingwebhook.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := mutatingwebhook.NewMutatingWebhook(config)
		return &mutatingWebhook{Plugin: p, noBindings: noBindings{configured: configured()}}, err
	})
	plugins.Register(validatingwebhook.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := validatingwebhook.NewValidatingAdmissionWebhook(config)
		return &validatingWebhook{Plugin: p, noBindings: noBindings{configured: configured()}}, err
	})
}

func (p *validatingPolicy) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	p.Plugin.SetExternalKubeInformerFactory(f)
	p.bindings = f.Admissionregistration().V1().ValidatingAdmissionPolicyBindings().Informer()
}

func (p *validatingPolicy) Validate(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	if p.holds() {
		return nil
	}
	return p.Plugin.Validate(ctx, a, o)
}

func (p *mutatingPolicy) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	p.Plugin.SetExternalKubeInformerFactory(f)
	p.bindings = f.Admissionregistration().V1().MutatingAdmissionPolicyBindings().Informer()
}

func (p *mutatingPolicy) Admit(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	if p.holds() {
		return nil
	}
	return p.Plugin.Admit(ctx, a, o)
}

func (p *mutatingWebhook) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	p.Plugin.SetExternalKubeInformerFactory(f)
	p.bindings = f.Admissionregistration().V1().MutatingWebhookConfigurations().Informer()
}

func (p *mutatingWebhook) Admit(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	if p.holds() {
		return nil
	}
	return p.Plugin.Admit(ctx, a, o)
}

func (p *validatingWebhook) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	p.Plugin.SetExternalKubeInformerFactory(f)
	p.bindings = f.Admissionregistration().V1().ValidatingWebhookConfigurations().Informer()
}

func (p *validatingWebhook) Validate(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	if p.holds() {
		return nil
	}
	return p.Plugin.Validate(ctx, a, o)
}
