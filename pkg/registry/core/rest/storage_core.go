// Package rest is the core (legacy, /api) group's provider (kube's
// pkg/registry/core/rest/storage_core.go).
package rest

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	saauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/configmap"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/event"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/namespace"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/pod"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/secret"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/serviceaccount"
)

// RESTStorageProvider builds core/v1. Authorizer is asked again for
// "create" on a WebSocket pods/exec, attach or portforward, as kube's.
type RESTStorageProvider struct {
	Authorizer authorizer.Authorizer
	// EventTTL is how long an event is kept (--event-ttl).
	EventTTL time.Duration
	// ServiceAccountTokens issues the tokens of serviceaccounts/token.
	ServiceAccountTokens *saauth.Config
}

// GroupName is the core group's, "".
func (RESTStorageProvider) GroupName() string { return corev1.GroupName }

// NewRESTStorage returns the enabled v1 resources with their subresources.
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	// A TokenRequest reads the pod or secret it binds to: the stores are
	// built in any order, and read once all are.
	var pods, secrets rest.Getter
	getter := func(store *rest.Getter, resource string) serviceaccount.Getter {
		return func(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
			if *store == nil {
				return nil, apierrors.NewNotFound(corev1.Resource(resource), name)
			}
			return (*store).Get(ctx, name, options)
		}
	}
	return registry.NewAPIGroupInfo(corev1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"pods": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := pod.NewStorage(api.Scheme, optsGetter, p.Authorizer)
			pods = s.Pod
			return map[string]rest.Storage{
				"pods":                     s.Pod,
				"pods/status":              s.Status,
				"pods/binding":             s.Binding,
				"bindings":                 s.LegacyBinding,
				"pods/eviction":            s.Eviction,
				"pods/ephemeralcontainers": s.EphemeralContainers,
				"pods/resize":              s.Resize,
				"pods/log":                 s.Log,
				"pods/exec":                s.Exec,
				"pods/attach":              s.Attach,
				"pods/portforward":         s.PortForward,
				"pods/proxy":               s.Proxy,
			}, err
		},
		"configmaps": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := configmap.NewStorage(optsGetter)
			return map[string]rest.Storage{"configmaps": s}, err
		},
		"secrets": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := secret.NewStorage(optsGetter)
			secrets = s
			return map[string]rest.Storage{"secrets": s}, err
		},
		"events": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := event.NewStorage(optsGetter, p.EventTTL)
			return map[string]rest.Storage{"events": s}, err
		},
		"serviceaccounts": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := serviceaccount.NewStorage(optsGetter)
			if err != nil {
				return nil, err
			}
			storage := map[string]rest.Storage{"serviceaccounts": s}
			if p.ServiceAccountTokens != nil {
				storage["serviceaccounts/token"] = serviceaccount.NewTokenREST(s.Get, getter(&pods, "pods"), getter(&secrets, "secrets"), p.ServiceAccountTokens)
			}
			return storage, nil
		},
		"namespaces": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := namespace.NewStorage(api.Scheme, optsGetter)
			return map[string]rest.Storage{"namespaces": s.Namespace, "namespaces/status": s.Status, "namespaces/finalize": s.Finalize}, err
		},
	})
}
