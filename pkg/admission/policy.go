package admission

import (
	"context"
	"io"

	"k8s.io/apiserver/pkg/admission"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// validatingPolicy is the library's ValidatingAdmissionPolicy plugin,
// which is not ready until its policy source has synced; the request that
// finds it not ready waits in steps of 100 ms, as does the source. On a new
// server the first writes are the server's own (system namespaces,
// bootstrap RBAC) and there is no binding yet, so no policy can apply:
// once the bindings' cache has synced empty, requests pass without waiting
// for the plugin. Any binding, or policies from manifest files, and every
// request goes to the plugin.
type validatingPolicy struct {
	*validatingpolicy.Plugin
	bindings cache.SharedIndexInformer
}

func registerValidatingPolicy(plugins *admission.Plugins) {
	plugins.Register(validatingpolicy.PluginName, func(config io.Reader) (admission.Interface, error) {
		p, err := validatingpolicy.NewPlugin(config)
		if err != nil {
			return nil, err
		}
		return &validatingPolicy{Plugin: p}, nil
	})
}

func (p *validatingPolicy) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	p.Plugin.SetExternalKubeInformerFactory(f)
	p.bindings = f.Admissionregistration().V1().ValidatingAdmissionPolicyBindings().Informer()
}

func (p *validatingPolicy) Validate(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	if p.bindings != nil && p.GetStaticManifestsDir() == "" && p.bindings.HasSynced() && len(p.bindings.GetStore().ListKeys()) == 0 {
		return nil
	}
	return p.Plugin.Validate(ctx, a, o)
}
