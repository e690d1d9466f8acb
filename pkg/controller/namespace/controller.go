// Package namespace is the small namespace controller mini-apiserver runs in
// place of kube-controller-manager's: it empties a terminating namespace of
// every namespaced resource discovery lists, removes the "kubernetes"
// finalizer and deletes it. It talks to the server through the API, under
// its own identity, so every step is audited, in the order kube's
// (pkg/controller/namespace/deletion) takes: per resource a deletecollection
// and a list to see what is left.
package namespace

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Controller finalizes terminating namespaces.
type Controller struct {
	client   kubernetes.Interface
	metadata metadata.Interface
	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller that acts through client and, for the
// resources it deletes, metadataClient.
func New(client kubernetes.Interface, metadataClient metadata.Interface) *Controller {
	factory := informers.NewSharedInformerFactory(client, 0)
	c := &Controller{
		client:   client,
		metadata: metadataClient,
		informer: factory.Core().V1().Namespaces().Informer(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
	}
	enqueue := func(obj interface{}) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	_, _ = c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	})
	return c
}

// Run processes namespaces until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	go c.informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced) {
		return
	}
	go wait.UntilWithContext(ctx, c.worker, time.Second)
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for {
		name, shutdown := c.queue.Get()
		if shutdown {
			return
		}
		err := c.finalize(ctx, name)
		switch {
		case err == nil:
			c.queue.Forget(name)
		case errContentRemaining == err:
			c.queue.AddRateLimited(name)
		default:
			klog.ErrorS(err, "Finalizing namespace", "namespace", name)
			c.queue.AddRateLimited(name)
		}
		c.queue.Done(name)
	}
}

var errContentRemaining = fmt.Errorf("content remaining")

// finalize runs one step of kube's namespace deletion: delete the pods, wait
// until none is left, drop the "kubernetes" finalizer, delete the namespace.
func (c *Controller) finalize(ctx context.Context, name string) error {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	if hasKubeFinalizer(ns) {
		if err := c.deleteContent(ctx, name); err != nil {
			return err
		}
		ns.Spec.Finalizers = removeKubeFinalizer(ns.Spec.Finalizers)
		if ns, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	if len(ns.Spec.Finalizers) > 0 {
		return nil
	}
	err = c.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ns.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// deleteContent deletes every namespaced resource of the namespace that can
// be deleted as a collection, and says errContentRemaining while any is
// left.
func (c *Controller) deleteContent(ctx context.Context, namespace string) error {
	lists, err := c.client.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		return fmt.Errorf("discovering namespaced resources: %w", err)
	}
	groupVersionResources, err := discovery.GroupVersionResources(discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "deletecollection"}}, lists))
	if err != nil {
		return err
	}
	remaining := false
	for gvr := range groupVersionResources {
		client := c.metadata.Resource(gvr).Namespace(namespace)
		if err := client.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s in %s: %w", gvr, namespace, err)
		}
		left, err := client.List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("listing %s in %s: %w", gvr, namespace, err)
		}
		if err == nil && len(left.Items) > 0 {
			remaining = true
		}
	}
	if remaining {
		return errContentRemaining
	}
	return nil
}

func hasKubeFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}

func removeKubeFinalizer(in []corev1.FinalizerName) []corev1.FinalizerName {
	var out []corev1.FinalizerName
	for _, f := range in {
		if f != corev1.FinalizerKubernetes {
			out = append(out, f)
		}
	}
	return out
}
