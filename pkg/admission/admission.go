// Package admission builds mini-apiserver's admission chain, the part of
// kube-apiserver's default plugin list that means something here:
// NamespaceLifecycle (k8s.io/apiserver's own plugin), ServiceAccount
// (./serviceaccount, kube's written again) and PodSecurity (./podsecurity,
// on k8s.io/pod-security-admission).
package admission

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"

	"github.com/mini-apiserver/mini-apiserver/pkg/admission/podsecurity"
	"github.com/mini-apiserver/mini-apiserver/pkg/admission/serviceaccount"
)

// New returns the chain, each plugin initialised by init. NamespaceLifecycle
// rejects objects in missing or terminating namespaces and the deletion of
// immortal namespaces (kube protects default, kube-system and kube-public;
// we also protect kube-node-lease: nothing here would recreate it).
func New(init admission.PluginInitializer, immortalNamespaces []string) (admission.Interface, error) {
	nsLifecycle, err := lifecycle.NewLifecycle(sets.New(immortalNamespaces...))
	if err != nil {
		return nil, err
	}
	podSecurity, err := podsecurity.New()
	if err != nil {
		return nil, err
	}
	// kube's order: NamespaceLifecycle, ..., ServiceAccount, ..., PodSecurity.
	plugins := []struct {
		name   string
		plugin admission.Interface
	}{{lifecycle.PluginName, nsLifecycle}, {serviceaccount.PluginName, serviceaccount.New()}, {podsecurity.PluginName, podSecurity}}
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
