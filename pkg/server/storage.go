package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	storagefactory "k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/etcd"
)

// etcdPreflightTimeout bounds how long start-up waits for an external etcd.
const etcdPreflightTimeout = 10 * time.Second

// embeddedEtcd is the member and the credential the server dials it with.
type embeddedEtcd struct {
	*etcd.Server
	client etcd.TLSFiles
}

// startEmbeddedEtcd starts the embedded etcd with the data directory's
// certificates; applyStorage waits for it.
func (o CompletedOptions) startEmbeddedEtcd(disposable bool) (*embeddedEtcd, error) {
	files, err := etcd.LoadOrCreatePKI(filepath.Join(o.DataDir, "pki"))
	if err != nil {
		return nil, err
	}
	srv, err := etcd.Start(etcd.Config{Dir: filepath.Join(o.DataDir, "etcd"), TLS: &files.Server, Disposable: disposable})
	if err != nil {
		return nil, err
	}
	return &embeddedEtcd{Server: srv, client: files.Client}, nil
}

// applyStorage sets the library's storage factory with kube's key layout,
// on --etcd-servers (checked to answer) or the embedded member (waited
// for), with every store on one etcd client. It returns the etcd options
// it completed, for apiextensions-apiserver's storage.
func (o CompletedOptions) applyStorage(ctx context.Context, c *genericapiserver.RecommendedConfig, embedded *embeddedEtcd) (*genericoptions.EtcdOptions, error) {
	etcdOpts := *o.Etcd
	if embedded == nil {
		if err := checkEtcd(ctx, etcdOpts.StorageConfig, etcdPreflightTimeout); err != nil {
			return nil, err
		}
	} else {
		if err := embedded.WaitReady(ctx); err != nil {
			return nil, err
		}
		client := embedded.client
		transport := &etcdOpts.StorageConfig.Transport
		transport.CertFile, transport.KeyFile, transport.TrustedCAFile = client.CertFile, client.KeyFile, client.CAFile
		transport.ServerList = []string{embedded.ClientURL()}
	}
	storageFactory := serverstorage.NewDefaultStorageFactory(etcdOpts.StorageConfig, etcdOpts.DefaultStorageMediaType,
		api.Codecs, serverstorage.NewDefaultResourceEncodingConfig(api.Scheme), c.MergedResourceConfig, nil)
	// Our own types have no protobuf encoding: AuditSinks are stored as JSON.
	storageFactory.SetSerializer(auditreg.Resource("auditsinks"), runtime.ContentTypeJSON, api.Codecs)
	if err := etcdOpts.ApplyWithStorageFactoryTo(storageFactory, &c.Config); err != nil {
		// The encryption configuration is read here, by the library.
		if path := etcdOpts.EncryptionProviderConfigFilepath; path != "" {
			return nil, fmt.Errorf("storage, with --encryption-provider-config %s: %w", path, err)
		}
		return nil, fmt.Errorf("storage: %w", err)
	}
	c.RESTOptionsGetter = (&sharedETCD{member: embedded}).restOptionsGetter(c.RESTOptionsGetter)
	return &etcdOpts, nil
}

func checkEtcd(ctx context.Context, sc storagebackend.Config, timeout time.Duration) error {
	prober, err := storagefactory.CreateProber(sc)
	if err != nil {
		return fmt.Errorf("cannot reach etcd at --etcd-servers=%s: %w", strings.Join(sc.Transport.ServerList, ","), err)
	}
	defer prober.Close()
	var lastErr error
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if lastErr = prober.Probe(probeCtx); lastErr != nil {
			klog.V(2).InfoS("etcd not reachable yet", "servers", sc.Transport.ServerList, "err", lastErr)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if lastErr == nil {
			lastErr = err
		}
		return fmt.Errorf("cannot reach etcd at --etcd-servers=%s within %s: %w", strings.Join(sc.Transport.ServerList, ","), timeout, lastErr)
	}
	return nil
}
