// Package rest is the events.k8s.io provider (kube's
// pkg/registry/events/rest/storage_events.go): events.k8s.io/v1 events are
// the core events' store seen through the new API.
package rest

import (
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/core/event"
)

// RESTStorageProvider builds events.k8s.io/v1; TTL is --event-ttl.
type RESTStorageProvider struct {
	TTL time.Duration
}

// GroupName is events.k8s.io.
func (RESTStorageProvider) GroupName() string { return eventsv1.GroupName }

// NewRESTStorage returns the enabled v1 resources.
func (p RESTStorageProvider) NewRESTStorage(source serverstorage.APIResourceConfigSource, optsGetter generic.RESTOptionsGetter) (genericapiserver.APIGroupInfo, error) {
	return registry.NewAPIGroupInfo(eventsv1.SchemeGroupVersion, source, optsGetter, map[string]registry.StorageFunc{
		"events": func(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
			s, err := event.NewStorage(optsGetter, p.TTL)
			return map[string]rest.Storage{"events": s}, err
		},
	})
}
