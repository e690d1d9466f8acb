package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	storagefactory "k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	"github.com/mini-apiserver/mini-apiserver/pkg/etcd"
)

// etcdPreflightTimeout bounds how long start-up waits for an external etcd.
const etcdPreflightTimeout = 10 * time.Second

// startEmbeddedEtcd starts the embedded etcd in the background when no
// --etcd-servers are given (else it returns nil); the function it returns
// waits for it, and may be called again. A new member spends most of its
// start waiting out its election, time the rest of the configuration uses.
func (o CompletedOptions) startEmbeddedEtcd() func() (*etcd.Server, error) {
	if len(o.Etcd.StorageConfig.Transport.ServerList) > 0 {
		return nil
	}
	var (
		srv  *etcd.Server
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		srv, err = o.runEmbeddedEtcd()
	}()
	return func() (*etcd.Server, error) {
		<-done
		return srv, err
	}
}

// applyStorage sets the library's storage factory with kube's key layout.
func (o CompletedOptions) applyStorage(c *genericapiserver.RecommendedConfig) error {
	resourceConfig := serverstorage.NewResourceConfig()
	resourceConfig.EnableVersions(corev1.SchemeGroupVersion, authenticationv1.SchemeGroupVersion, authorizationv1.SchemeGroupVersion, rbacv1.SchemeGroupVersion, auditreg.SchemeGroupVersion)
	storageFactory := serverstorage.NewDefaultStorageFactory(o.Etcd.StorageConfig, o.Etcd.DefaultStorageMediaType,
		api.Codecs, serverstorage.NewDefaultResourceEncodingConfig(api.Scheme), resourceConfig, nil)
	// Our own types have no protobuf encoding: AuditSinks are stored as JSON.
	storageFactory.SetSerializer(auditreg.Resource("auditsinks"), runtime.ContentTypeJSON, api.Codecs)
	return o.Etcd.ApplyWithStorageFactoryTo(storageFactory, &c.Config)
}

// runEmbeddedEtcd starts the embedded etcd with the data directory's
// certificates and points the storage transport at it.
func (o CompletedOptions) runEmbeddedEtcd() (*etcd.Server, error) {
	files, err := etcd.LoadOrCreatePKI(filepath.Join(o.DataDir, "pki"))
	if err != nil {
		return nil, err
	}
	srv, err := etcd.Start(etcd.Config{Dir: filepath.Join(o.DataDir, "etcd"), TLS: &files.Server})
	if err != nil {
		return nil, err
	}
	transport := &o.Etcd.StorageConfig.Transport
	transport.CertFile, transport.KeyFile, transport.TrustedCAFile = files.Client.CertFile, files.Client.KeyFile, files.Client.CAFile
	transport.ServerList = []string{srv.ClientURL}
	return srv, nil
}

func checkEtcd(sc storagebackend.Config, timeout time.Duration) error {
	prober, err := storagefactory.CreateProber(sc)
	if err != nil {
		return fmt.Errorf("cannot reach etcd at --etcd-servers=%s: %w", strings.Join(sc.Transport.ServerList, ","), err)
	}
	defer prober.Close()
	var lastErr error
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
