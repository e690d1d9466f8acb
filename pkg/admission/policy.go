package admission

import (
	"context"
	"io"

	"k8s.io/apiserver/pkg/admission"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// The library's admission policy plugins are not ready until their policy
// source has synced; the request that finds one not ready waits in steps of
// 100 ms, as does the source. On a new server the first writes are the
// server's own (system namespaces, bootstrap RBAC) and there is no binding
// yet, so no policy can apply: once the bindings' cache has synced empty,
// requests pass without waiting for the plugin. With any binding, or
// policies from manifest files, every request goes to the plugin.

// noBindings says whether no policy can apply.
type noBindings struct {
	bindings     cache.SharedIndexInformer
	manifestsDir func() string
}

func (n noBindings) holds() bool {
	return n.bindings != nil && n.manifestsDir() == "" && n.bindings.HasSynced() && len(n.bindings.GetStore().ListKeys()) == 0
}

type validatingPolicy struct {
	*validatingpolicy.Plugin
	noBindings
}

type mutatingPolicy struct {
	*mutatingpolicy.Plugin
	noBindings
}

func registerPolicies(plugins *admission.Plugins) {
	plugins.Register(validatingpolicy.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := validatingpolicy.NewPlugin(config)
		if err != nil {
			return nil, err
		}
		return &validatingPolicy{Plugin: p, noBindings: noBindings{manifestsDir: p.GetStaticManifestsDir}}, nil
	})
	plugins.Register(mutatingpolicy.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := mutatingpolicy.NewPlugin(config)
		if err != nil {
			return nil, err
		}
		return &mutatingPolicy{Plugin: p, noBindings: noBindings{manifestsDir: p.GetStaticManifestsDir}}, nil
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
