// Package namespacedefaults runs what kube-controller-manager puts in every
// namespace and users rely on: the `default` ServiceAccount (its
// serviceaccount controller, pkg/controller/serviceaccount) and the
// `kube-root-ca.crt` ConfigMap (its root-ca-cert-publisher,
// pkg/controller/certificates/rootcacertpublisher). Each acts through the
// API under its own identity, so what it does is audited as kube's.
package namespacedefaults

import (
	"context"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// kube's names (rootcacertpublisher/publisher.go).
const (
	RootCACertConfigMapName = "kube-root-ca.crt"
	DescriptionAnnotation   = "kubernetes.io/description"
	Description             = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
	// DefaultServiceAccountName is the service account every namespace has.
	DefaultServiceAccountName = "default"
)

// controller keeps one object in every active namespace: sync makes the
// namespace's object right; a change to one (kept says which) or to a
// namespace queues the namespace again.
type controller struct {
	name       string
	namespaces cache.SharedIndexInformer
	objects    cache.SharedIndexInformer
	queue      workqueue.TypedRateLimitingInterface[string]
	sync       func(ctx context.Context, namespace string) error
}

func newController(name string, factory informers.SharedInformerFactory, objects cache.SharedIndexInformer, kept func(metav1.Object) bool,
	sync func(ctx context.Context, namespace string) error) *controller {
	c := &controller{name: name, namespaces: factory.Core().V1().Namespaces().Informer(), objects: objects, sync: sync,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name})}
	_, _ = c.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.queue.Add(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, obj interface{}) { c.queue.Add(obj.(*corev1.Namespace).Name) },
	})
	requeue := func(obj interface{}) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if m, ok := obj.(metav1.Object); ok && kept(m) {
			c.queue.Add(m.GetNamespace())
		}
	}
	_, _ = objects.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) { requeue(obj) },
		DeleteFunc: requeue,
	})
	return c
}

func (c *controller) run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.namespaces.HasSynced, c.objects.HasSynced) {
		return
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for {
			ns, shutdown := c.queue.Get()
			if shutdown {
				return
			}
			if err := c.sync(ctx, ns); err != nil {
				klog.ErrorS(err, "Syncing namespace", "controller", c.name, "namespace", ns)
				c.queue.AddRateLimited(ns)
			} else {
				c.queue.Forget(ns)
			}
			c.queue.Done(ns)
		}
	}, time.Second)
	<-ctx.Done()
}

// active says whether a namespace exists and is not terminating.
func active(namespaces corelisters.NamespaceLister, name string) (bool, error) {
	ns, err := namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil && ns.Status.Phase == corev1.NamespaceActive, err
}

// gone is an error to drop: the namespace went away or is terminating.
func gone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// RunServiceAccounts keeps a `default` ServiceAccount in every active
// namespace, acting through client, until ctx is done.
func RunServiceAccounts(ctx context.Context, client kubernetes.Interface) {
	factory := informers.NewSharedInformerFactory(client, 0)
	namespaces, serviceAccounts := factory.Core().V1().Namespaces().Lister(), factory.Core().V1().ServiceAccounts()
	c := newController("serviceaccount", factory, serviceAccounts.Informer(),
		func(m metav1.Object) bool { return m.GetName() == DefaultServiceAccountName },
		func(ctx context.Context, ns string) error {
			if ok, err := active(namespaces, ns); !ok {
				return err
			}
			switch _, err := serviceAccounts.Lister().ServiceAccounts(ns).Get(DefaultServiceAccountName); {
			case err == nil:
				return nil
			case !apierrors.IsNotFound(err):
				return err
			}
			_, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccountName}}, metav1.CreateOptions{})
			if gone(err) {
				return nil
			}
			return err
		})
	factory.Start(ctx.Done())
	c.run(ctx)
}

// RunRootCAPublisher keeps the `kube-root-ca.crt` ConfigMap, with rootCA
// (PEM) as its ca.crt, in every active namespace, acting through client,
// until ctx is done.
func RunRootCAPublisher(ctx context.Context, client kubernetes.Interface, rootCA []byte) {
	factory := informers.NewSharedInformerFactory(client, 0)
	namespaces, configMaps := factory.Core().V1().Namespaces().Lister(), factory.Core().V1().ConfigMaps()
	data := map[string]string{"ca.crt": string(rootCA)}
	c := newController("root-ca-cert-publisher", factory, configMaps.Informer(),
		func(m metav1.Object) bool { return m.GetName() == RootCACertConfigMapName },
		func(ctx context.Context, ns string) error {
			if ok, err := active(namespaces, ns); !ok {
				return err
			}
			cm, err := configMaps.Lister().ConfigMaps(ns).Get(RootCACertConfigMapName)
			switch {
			case apierrors.IsNotFound(err):
				_, err = client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: RootCACertConfigMapName, Annotations: map[string]string{DescriptionAnnotation: Description}},
					Data:       data,
				}, metav1.CreateOptions{})
				if gone(err) {
					return nil
				}
				return err
			case err != nil:
				return err
			}
			if reflect.DeepEqual(cm.Data, data) && cm.Annotations[DescriptionAnnotation] != "" {
				return nil
			}
			cm = cm.DeepCopy()
			cm.Data = data
			if cm.Annotations == nil {
				cm.Annotations = map[string]string{}
			}
			cm.Annotations[DescriptionAnnotation] = Description
			_, err = client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
			return err
		})
	factory.Start(ctx.Done())
	c.run(ctx)
}
