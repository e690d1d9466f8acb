package pod

import (
	"context"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/util/dryrun"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// EvictionREST serves pods/eviction (policy/v1 Eviction), what kubectl
// drain and the cluster autoscaler send, after kube's
// pkg/registry/core/pod/storage/eviction.go. This server does not serve
// PodDisruptionBudgets, so none applies: an eviction deletes the pod as
// kube's does in a namespace with no budget, marking it DisruptionTarget
// first.
type EvictionREST struct {
	// store is the pods/status store: the condition is a status write.
	store *registry.Store
}

var (
	_              rest.NamedCreater             = &EvictionREST{}
	_              rest.GroupVersionKindProvider = &EvictionREST{}
	_              rest.GroupVersionAcceptor     = &EvictionREST{}
	v1Eviction                                   = policyv1.SchemeGroupVersion.WithKind("Eviction")
	evictionsRetry                               = wait.Backoff{Steps: 20, Duration: 500 * time.Millisecond, Factor: 1.0, Jitter: 0.1}
)

func (r *EvictionREST) New() runtime.Object { return &policyv1.Eviction{} }
func (r *EvictionREST) Destroy()            {}

// GroupVersionKind says the subresource's kind is policy/v1 Eviction,
// though it is installed in core/v1.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return v1Eviction
}

func (r *EvictionREST) AcceptsGroupVersion(gv schema.GroupVersion) bool {
	return gv == policyv1.SchemeGroupVersion
}

func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	eviction, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Eviction object: %T", obj))
	}
	if name != eviction.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if eviction.DeleteOptions != nil && ptr.Deref(eviction.DeleteOptions.IgnoreStoreReadErrorWithClusterBreakingPotential, false) {
		return nil, apierrors.NewInvalid(v1Eviction.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("deleteOptions").Child("ignoreStoreReadErrorWithClusterBreakingPotential"), true, "can not be set for pod eviction, try after removing the option"),
		})
	}
	deleteOptions, err := propagateDryRun(eviction, options)
	if err != nil {
		return nil, err
	}
	if createValidation != nil {
		if err := createValidation(ctx, eviction.DeepCopyObject()); err != nil {
			return nil, err
		}
	}

	// A pod that is not running (or already going) is deleted without a
	// budget check, guarded by its resourceVersion and retried on conflict.
	shouldRetry := apierrors.IsConflict
	if !resourceVersionIsUnset(deleteOptions) {
		shouldRetry = func(error) bool { return false }
	}
	deleted := false
	err = retry.OnError(evictionsRetry, shouldRetry, func() error {
		pod, err := getPod(ctx, r.store, eviction.Name)
		if err != nil {
			return err
		}
		if !canIgnorePDB(pod) {
			return nil
		}
		opts := deleteOptions
		if shouldEnforceResourceVersion(pod) && resourceVersionIsUnset(deleteOptions) {
			opts = opts.DeepCopy()
			if opts.Preconditions == nil {
				opts.Preconditions = &metav1.Preconditions{}
			}
			opts.Preconditions.ResourceVersion = &pod.ResourceVersion
		}
		if err := r.addConditionAndDeletePod(ctx, eviction.Name, opts); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !deleted {
		// A running pod: no budget can apply here.
		if err := r.addConditionAndDeletePod(ctx, eviction.Name, deleteOptions); err != nil {
			return nil, err
		}
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// propagateDryRun is kube's: the request's dryRun and the eviction's
// deleteOptions' must agree.
func propagateDryRun(eviction *policyv1.Eviction, options *metav1.CreateOptions) (*metav1.DeleteOptions, error) {
	if eviction.DeleteOptions == nil {
		return &metav1.DeleteOptions{DryRun: options.DryRun}, nil
	}
	if len(eviction.DeleteOptions.DryRun) == 0 {
		eviction.DeleteOptions.DryRun = options.DryRun
		return eviction.DeleteOptions, nil
	}
	if len(options.DryRun) == 0 {
		return eviction.DeleteOptions, nil
	}
	if !reflect.DeepEqual(options.DryRun, eviction.DeleteOptions.DryRun) {
		return nil, fmt.Errorf("Non-matching dry-run options in request and content: %v and %v", options.DryRun, eviction.DeleteOptions.DryRun)
	}
	return eviction.DeleteOptions, nil
}

// addConditionAndDeletePod marks the pod DisruptionTarget (reason
// EvictionByEvictionAPI) and deletes it, under the options' preconditions.
func (r *EvictionREST) addConditionAndDeletePod(ctx context.Context, name string, options *metav1.DeleteOptions) error {
	if !dryrun.IsDryRun(options.DryRun) {
		checkPreconditions := func(_ context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
			latest := oldObj.(*corev1.Pod).DeepCopy()
			if p := options.Preconditions; p != nil {
				if uid := p.UID; uid != nil && len(*uid) > 0 && *uid != latest.UID {
					return nil, apierrors.NewConflict(schema.GroupResource{Resource: "Pod"}, latest.Name,
						fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *uid, latest.UID))
				}
				if rv := p.ResourceVersion; rv != nil && len(*rv) > 0 && *rv != latest.ResourceVersion {
					return nil, apierrors.NewConflict(schema.GroupResource{Resource: "Pod"}, latest.Name,
						fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *rv, latest.ResourceVersion))
				}
			}
			return latest, nil
		}
		addCondition := func(_ context.Context, newObj, _ runtime.Object) (runtime.Object, error) {
			pod := newObj.(*corev1.Pod)
			setCondition(&pod.Status, corev1.PodCondition{
				Type:    corev1.DisruptionTarget,
				Status:  corev1.ConditionTrue,
				Reason:  "EvictionByEvictionAPI",
				Message: "Eviction API: evicting",
			})
			return pod, nil
		}
		updated, _, err := r.store.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, checkPreconditions, addCondition),
			rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		if !resourceVersionIsUnset(options) {
			rv, err := meta.NewAccessor().ResourceVersion(updated)
			if err != nil {
				return err
			}
			options = options.DeepCopy()
			options.Preconditions.ResourceVersion = &rv
		}
	}
	_, _, err := r.store.Delete(ctx, name, rest.ValidateAllObjectFunc, options)
	return err
}

// canIgnorePDB: a pod that is done, pending or being deleted is evicted
// without a budget check.
func canIgnorePDB(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		pod.Status.Phase == corev1.PodPending || !pod.DeletionTimestamp.IsZero()
}

func shouldEnforceResourceVersion(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp.IsZero()
}

func resourceVersionIsUnset(options *metav1.DeleteOptions) bool {
	return options.Preconditions == nil || options.Preconditions.ResourceVersion == nil
}
