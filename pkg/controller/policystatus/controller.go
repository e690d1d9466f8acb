// Package policystatus writes each ValidatingAdmissionPolicy's
// status.typeChecking: its expressions type-checked against the kinds it
// matches and its paramKind, so a policy that refers to a field its objects
// do not have says so. It follows kube-controller-manager's
// validatingadmissionpolicy-status controller
// (pkg/controller/validatingadmissionpolicystatus/controller.go) and uses
// the library's type checker, as that does.
package policystatus

import (
	"context"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	applyv1 "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/kube-openapi/pkg/common"
)

// Name is kube's controller name, also its field manager.
const Name = "validatingadmissionpolicy-status"

// Run type-checks every policy whose generation its status has not seen,
// acting through client, until ctx is done. Types come from the server's
// own OpenAPI definitions (definitions, scheme) and, for kinds they do not
// have, from the server's /openapi/v3, as kube's resolver does.
func Run(ctx context.Context, client kubernetes.Interface, definitions common.GetOpenAPIDefinitions, scheme *runtime.Scheme) {
	defer utilruntime.HandleCrash()
	checker := &validating.TypeChecker{
		SchemaResolver: resolver.NewDefinitionsSchemaResolver(definitions, scheme).
			Combine(&resolver.ClientDiscoveryResolver{Discovery: client.Discovery()}),
		RestMapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery())),
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	policies := factory.Admissionregistration().V1().ValidatingAdmissionPolicies()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: Name})
	defer queue.ShutDown()
	enqueue := func(obj interface{}) {
		if p, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy); ok {
			queue.Add(p.Name)
		}
	}
	if _, err := policies.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	}); err != nil {
		utilruntime.HandleError(err)
		return
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), policies.Informer().HasSynced) {
		return
	}
	reconcile := func(ctx context.Context, name string) error {
		policy, err := policies.Lister().Get(name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil || policy.Generation <= policy.Status.ObservedGeneration {
			return err
		}
		// A type-checking failure (an unknown kind, a schema that does
		// not resolve) is not a warning: the checker skips those kinds.
		warnings := checker.Check(policy)
		applied := make([]*applyv1.ExpressionWarningApplyConfiguration, 0, len(warnings))
		for _, w := range warnings {
			applied = append(applied, applyv1.ExpressionWarning().WithFieldRef(w.FieldRef).WithWarning(w.Warning))
		}
		_, err = client.AdmissionregistrationV1().ValidatingAdmissionPolicies().ApplyStatus(ctx,
			applyv1.ValidatingAdmissionPolicy(policy.Name).WithStatus(applyv1.ValidatingAdmissionPolicyStatus().
				WithObservedGeneration(policy.Generation).
				WithTypeChecking(applyv1.TypeChecking().WithExpressionWarnings(applied...))),
			metav1.ApplyOptions{FieldManager: Name, Force: true})
		return err
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for {
			name, shutdown := queue.Get()
			if shutdown {
				return
			}
			if err := reconcile(ctx, name); err != nil {
				klog.ErrorS(err, "Type-checking policy", "controller", Name, "policy", name)
				queue.AddRateLimited(name)
			} else {
				queue.Forget(name)
			}
			queue.Done(name)
		}
	}, time.Second)
	<-ctx.Done()
}
