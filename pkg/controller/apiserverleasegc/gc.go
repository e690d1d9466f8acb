// Package apiserverleasegc deletes the identity Leases of API servers that
// stopped renewing them, after kube-apiserver's
// pkg/controlplane/controller/apiserverleasegc/gc_controller.go: every
// server runs it, so in a control plane of several servers any one of them
// removes a dead one's Lease once it has expired.
package apiserverleasegc

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Run deletes, every period, the Leases in namespace matching selector
// whose renew time plus duration has passed, until ctx is done. A Lease is
// read again from the server before it is deleted, as kube's does, so one
// renewed meanwhile stays.
func Run(ctx context.Context, client kubernetes.Interface, period time.Duration, namespace, selector string) {
	// Its own informer, narrowed to the identity Leases, as kube's.
	informer := coordinationinformers.NewFilteredLeaseInformer(client, namespace, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = selector })
	lister := coordinationlisters.NewLeaseLister(informer.GetIndexer())
	go informer.RunWithContext(ctx)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, informer.HasSynced) {
		return
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) { collect(ctx, client, lister, namespace) }, period)
}

func collect(ctx context.Context, client kubernetes.Interface, lister coordinationlisters.LeaseLister, namespace string) {
	leases, err := lister.Leases(namespace).List(labels.Everything())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Error while listing apiserver leases")
		return
	}
	for _, cached := range leases {
		if !Expired(cached, time.Now()) {
			continue
		}
		lease, err := client.CoordinationV1().Leases(namespace).Get(ctx, cached.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // another server's collector was first
		}
		if err != nil {
			klog.FromContext(ctx).Error(err, "Error getting lease", "lease", cached.Name)
			continue
		}
		if !Expired(lease, time.Now()) {
			continue
		}
		err = client.CoordinationV1().Leases(namespace).Delete(ctx, lease.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			klog.FromContext(ctx).Error(err, "Error deleting lease", "lease", lease.Name)
		}
	}
}

// Expired says whether lease was last renewed more than its duration before
// now; one without a renew time or a duration is expired, as in kube's.
func Expired(lease *coordinationv1.Lease, now time.Time) bool {
	return lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil ||
		lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second).Before(now)
}
