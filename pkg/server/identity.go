package server

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/utils/clock"

	"github.com/mini-apiserver/mini-apiserver/pkg/controller/apiserverleasegc"
)

// The apiserver identity, kube-apiserver's (pkg/controlplane/apiserver/
// server.go): each server keeps a Lease named by its identity in
// kube-system, labelled apiserver.kubernetes.io/identity=kube-apiserver and
// with its host name, renewed every 10 s for an hour; a graceful stop
// deletes it, and every server deletes the expired ones every hour.
const (
	IdentityLeaseComponentLabelKey = "apiserver.kubernetes.io/identity"
	identityComponent              = "kube-apiserver"
	identityLeaseDurationSeconds   = 3600
	identityLeaseRenewInterval     = 10 * time.Second
	identityLeaseGCPeriod          = time.Hour
)

// apiServerID is k8s.io/apiserver's identity of a kube-apiserver on host
// (NewConfig): a hash of the host name and the component, so that it is
// the same across restarts.
func apiServerID(host string) string {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(host)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(identityComponent)) })
	data, err := b.Bytes()
	if err != nil {
		// Only a host name over 64 KiB, which no system has.
		panic(fmt.Sprintf("apiserver identity of host %q: %v", host, err))
	}
	hash := sha256.Sum256(data)
	return "apiserver-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(hash[:16]))
}

// identityHost is the host name the identity is derived from and labelled
// with: --identity-hostname, else the machine's.
func identityHost(override string) (string, error) {
	if override != "" {
		return override, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name for the apiserver identity: %w", err)
	}
	return host, nil
}

// installIdentityLease adds kube's identity Lease controller and the
// collector of expired ones to s, with kube's hook names, when the
// APIServerIdentity feature is on.
func (c completedConfig) installIdentityLease(s *genericapiserver.GenericAPIServer) error {
	if !c.Generic.FeatureGate.Enabled(genericfeatures.APIServerIdentity) || s.APIServerID == "" {
		return nil
	}
	bg := c.Extra.background
	client, err := kubernetes.NewForConfig(bg.loopbackConfig(c.Generic.LoopbackClientConfig))
	if err != nil {
		return err
	}
	host := c.Extra.IdentityHost
	controller := lease.NewController(clock.RealClock{}, client, s.APIServerID+"_"+string(uuid.NewUUID()), identityLeaseDurationSeconds, nil,
		identityLeaseRenewInterval, s.APIServerID, metav1.NamespaceSystem, func(l *coordinationv1.Lease) error {
			if l.Labels == nil {
				l.Labels = map[string]string{}
			}
			l.Labels[IdentityLeaseComponentLabelKey] = identityComponent
			l.Labels[corev1.LabelHostname] = host
			return nil
		})
	if err := s.AddPostStartHook("start-kube-apiserver-identity-lease-controller", func(ctx genericapiserver.PostStartHookContext) error {
		return controller.Start(bg.context(ctx).Done())
	}); err != nil {
		return err
	}
	// kube's pre-shutdown hook stop-kube-apiserver-identity-lease-controller:
	// Stop deletes the Lease, through the in-process client.
	bg.onStop(controller.Stop)
	return s.AddPostStartHook("start-kube-apiserver-identity-lease-garbage-collector", func(ctx genericapiserver.PostStartHookContext) error {
		go apiserverleasegc.Run(bg.context(ctx), client, identityLeaseGCPeriod, metav1.NamespaceSystem, IdentityLeaseComponentLabelKey+"="+identityComponent)
		return nil
	})
}
