package server

import (
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	apiextensionsoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/webhook"
)

// apiExtensionsConfig configures k8s.io/apiextensions-apiserver, the
// CustomResourceDefinitions and the custom resources they define, as
// kube-apiserver's CreateAPIExtensionsConfig does
// (pkg/controlplane/apiserver/apiextensions.go): a shallow copy of the
// server's own configuration (the same authentication, authorization,
// admission, audit and discovery manager) with its own storage codec and
// API enablement. New puts it behind the server's own API groups in the
// delegation chain, so one handler chain authenticates, authorizes and
// audits both.
func (o CompletedOptions) apiExtensionsConfig(c *genericapiserver.RecommendedConfig, etcdOpts *genericoptions.EtcdOptions, bg *background, auth webhook.AuthenticationInfoResolverWrapper, services webhook.ServiceResolver) (*apiextensionsapiserver.Config, error) {
	genericConfig := c.Config
	genericConfig.RESTOptionsGetter = nil
	// Its informers and controllers are stopped and their connections
	// closed with the server's other in-process clients.
	genericConfig.LoopbackClientConfig = bg.loopbackConfig(c.LoopbackClientConfig)

	etcd := *etcdOpts
	// kube's: CRDs are stored as v1beta1, the more compact serialization.
	etcd.StorageConfig.Codec = apiextensionsapiserver.Codecs.LegacyCodec(apiextensionsv1beta1.SchemeGroupVersion, apiextensionsv1.SchemeGroupVersion)
	etcd.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(apiextensionsv1beta1.SchemeGroupVersion, schema.GroupKind{Group: apiextensionsv1beta1.GroupName})
	etcd.SkipHealthEndpoints = true
	// CRDs and custom resources have etcd clients of their own, as every
	// resource has in kube-apiserver, not the server's shared one: the
	// CRD informer streams its list, a consistent read that waits for the
	// store's watch cache to hear a progress notification from etcd, and on
	// the shared client's watch stream none came while a second server
	// wrote to the same etcd (TestExternalEtcd, /readyz stuck on
	// crd-informer-synced in 1 of 3 runs; 0 of 8 on its own client).
	if err := etcd.ApplyTo(&genericConfig); err != nil {
		return nil, fmt.Errorf("apiextensions storage: %w", err)
	}
	if err := o.APIEnablement.ApplyTo(&genericConfig, apiextensionsapiserver.DefaultAPIResourceConfigSource(), apiextensionsapiserver.Scheme); err != nil {
		return nil, fmt.Errorf("--runtime-config: %w", err)
	}
	// The server's hooks are the server's; the library adds its own.
	genericConfig.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	return &apiextensionsapiserver.Config{
		GenericConfig: &genericapiserver.RecommendedConfig{Config: genericConfig, SharedInformerFactory: c.SharedInformerFactory},
		ExtraConfig: apiextensionsapiserver.ExtraConfig{
			CRDRESTOptionsGetter: apiextensionsoptions.NewCRDRESTOptionsGetter(etcd, genericConfig.ResourceTransformers, genericConfig.StorageObjectCountTracker),
			MasterCount:          1,
			AuthResolverWrapper:  auth,
			ServiceResolver:      services,
		},
	}, nil
}
