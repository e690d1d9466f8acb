package server

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"google.golang.org/grpc/connectivity"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericfeatures "k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/etcd3"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/tools/cache"
)

// The library's storage factory (storagebackend/factory.Create) dials a new
// etcd client for every resource's store and waits for its connection: a
// TLS handshake with etcd per resource, about 3 ms each on this machine,
// one after the other at start-up (kube-apiserver pays the same, for some
// seventy resources). sharedETCD builds every store on one client per etcd
// transport instead, with the library's parts otherwise (etcd3.New, its
// decoder, transformer and compactor, the watch cache of
// genericregistry.StorageWithCacher), so what a store does is unchanged.
//
// The client of the embedded member is in process (etcd's v3client): the
// stores call the member's gRPC services as functions, with none of the
// TLS, HTTP/2 and protobuf that both ends of a connection spend on every
// request. A get of a pod served 2,534-2,694 against 1,901-2,086 a second
// through the member's port (`bin/loadgen --op get --duration 8s
// --concurrency 8`, admin credential, audit off, two rounds on the 2-core
// VM of docs/performance.md).
type sharedETCD struct {
	// member is the embedded etcd, if any: the stores on its client URL
	// call it in process.
	member *embeddedEtcd

	mu      sync.Mutex
	clients map[string]*sharedClient
}

type sharedClient struct {
	client    *kubernetes.Client
	compactor interface {
		etcd3.Compactor
		Stop()
	}
	refs int
}

// etcd client settings of the library's factory.
const (
	etcdDialTimeout      = 20 * time.Second
	etcdKeepaliveTime    = 30 * time.Second
	etcdKeepaliveTimeout = 10 * time.Second
)

// restOptionsGetter wraps the library's getter: the same options, the
// store built on the shared client, cached where the library caches.
func (s *sharedETCD) restOptionsGetter(inner generic.RESTOptionsGetter) generic.RESTOptionsGetter {
	return restOptionsFunc(func(resource schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
		opts, err := inner.GetRESTOptions(resource, example)
		if err != nil {
			return opts, err
		}
		cached := reflect.ValueOf(opts.Decorator).Pointer() != reflect.ValueOf(generic.StorageDecorator(generic.UndecoratedStorage)).Pointer()
		opts.Decorator = s.decorator(cached)
		return opts, nil
	})
}

type restOptionsFunc func(schema.GroupResource, runtime.Object) (generic.RESTOptions, error)

func (f restOptionsFunc) GetRESTOptions(r schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	return f(r, example)
}

func (s *sharedETCD) decorator(cached bool) generic.StorageDecorator {
	return func(config *storagebackend.ConfigForResource, resourcePrefix string, keyFunc func(obj runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, getAttrs storage.AttrFunc, triggers storage.IndexerFuncs, indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
		raw, destroyRaw, err := s.newStore(config, newFunc, newListFunc, resourcePrefix)
		if err != nil || !cached {
			return raw, destroyRaw, err
		}
		// genericregistry.StorageWithCacher's watch cache over it.
		cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
			Storage: raw, Versioner: storage.APIObjectVersioner{}, GroupResource: config.GroupResource,
			EventsHistoryWindow: config.EventsHistoryWindow, ResourcePrefix: resourcePrefix, KeyFunc: keyFunc,
			NewFunc: newFunc, NewListFunc: newListFunc, GetAttrsFunc: getAttrs, IndexerFuncs: triggers, Indexers: indexers, Codec: config.Codec,
		})
		if err != nil {
			destroyRaw()
			return nil, func() {}, err
		}
		delegator := cacherstorage.NewCacheDelegator(cacher, raw)
		var once sync.Once
		return delegator, func() {
			once.Do(func() {
				delegator.Stop()
				cacher.Stop()
				destroyRaw()
			})
		}, nil
	}
}

// newStore is the library's newETCD3Storage on the shared client.
func (s *sharedETCD) newStore(c *storagebackend.ConfigForResource, newFunc, newListFunc func() runtime.Object, resourcePrefix string) (storage.Interface, factory.DestroyFunc, error) {
	shared, release, err := s.acquire(c.Transport, c.CompactionInterval)
	if err != nil {
		return nil, nil, err
	}
	transformer := c.Transformer
	if transformer == nil {
		transformer = identity.NewEncryptCheckTransformer()
	}
	versioner := storage.APIObjectVersioner{}
	decoder := etcd3.NewDefaultDecoder(c.Codec, versioner)
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.AllowUnsafeMalformedObjectDeletion) {
		transformer = etcd3.WithCorruptObjErrorHandlingTransformer(transformer)
		decoder = etcd3.WithCorruptObjErrorHandlingDecoder(decoder)
	}
	var compactor etcd3.Compactor
	if shared.compactor != nil {
		compactor = shared.compactor
	}
	store, err := etcd3.New(shared.client, compactor, c.Codec, newFunc, newListFunc, c.Prefix, resourcePrefix, c.GroupResource, transformer, c.LeaseManagerConfig, decoder, versioner)
	if err != nil {
		release()
		return nil, nil, err
	}
	var once sync.Once
	destroy := func() {
		once.Do(func() {
			store.Close()
			release()
		})
	}
	var st storage.Interface = store
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.AllowUnsafeMalformedObjectDeletion) {
		st = etcd3.NewStoreWithUnsafeCorruptObjectDeletion(st, c.GroupResource)
	}
	return st, destroy, nil
}

// acquire returns the transport's client, dialed (and its compactor
// started) by the first store; the last release closes them.
func (s *sharedETCD) acquire(t storagebackend.TransportConfig, compaction time.Duration) (*sharedClient, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fmt.Sprintf("%v", t)
	shared, ok := s.clients[key]
	if !ok {
		var client *kubernetes.Client
		if m := s.member; m != nil && len(t.ServerList) == 1 && t.ServerList[0] == m.ClientURL() {
			client = &kubernetes.Client{Client: m.InProcessClient()}
			client.Kubernetes = client
		} else {
			var err error
			if client, err = dialETCD(t); err != nil {
				return nil, nil, err
			}
		}
		client.KV = etcd3.NewETCDLatencyTracker(client.KV)
		shared = &sharedClient{client: client}
		if compaction != 0 {
			shared.compactor = etcd3.StartCompactorPerEndpoint(client.Client, compaction)
		}
		if s.clients == nil {
			s.clients = map[string]*sharedClient{}
		}
		s.clients[key] = shared
	}
	shared.refs++
	var once sync.Once
	return shared, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if shared.refs--; shared.refs == 0 {
				if shared.compactor != nil {
					shared.compactor.Stop()
				}
				_ = shared.client.Close()
				delete(s.clients, key)
			}
		})
	}, nil
}

// dialETCD is the library's newETCD3Client without the egress selector
// (none here): TLS from the transport, its keepalives, and a wait until the
// connection is ready (acquire adds the latency tracker on KV, to every
// client).
func dialETCD(t storagebackend.TransportConfig) (*kubernetes.Client, error) {
	tlsConfig, err := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.TrustedCAFile}.ClientConfig()
	if err != nil {
		return nil, err
	}
	if t.CertFile == "" && t.KeyFile == "" && t.TrustedCAFile == "" {
		tlsConfig = nil
	}
	client, err := kubernetes.New(clientv3.Config{
		DialTimeout: etcdDialTimeout, DialKeepAliveTime: etcdKeepaliveTime, DialKeepAliveTimeout: etcdKeepaliveTimeout,
		Endpoints: t.ServerList, TLS: tlsConfig,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), etcdDialTimeout)
	defer cancel()
	conn := client.Client.ActiveConnection()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if state == connectivity.Idle {
			conn.Connect()
		}
		if !conn.WaitForStateChange(ctx, state) {
			_ = client.Close()
			return nil, fmt.Errorf("etcd %v: connection not ready: %w", t.ServerList, ctx.Err())
		}
	}
	return client, nil
}
