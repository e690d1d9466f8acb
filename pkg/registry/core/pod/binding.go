package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"
	"k8s.io/apiserver/pkg/util/dryrun"
)

// BindingREST serves pods/binding, what a scheduler writes to put a pod on
// a node (kube's pkg/registry/core/pod/storage BindingREST).
type BindingREST struct {
	store *registry.Store
}

var (
	_ rest.NamedCreater                   = &BindingREST{}
	_ rest.SubresourceObjectMetaPreserver = &BindingREST{}
	_ rest.Scoper                         = &BindingREST{}
	_ rest.Creater                        = &LegacyBindingREST{}
	_ rest.SingularNameProvider           = &LegacyBindingREST{}
	_ rest.SubresourceObjectMetaPreserver = &LegacyBindingREST{}
)

func (r *BindingREST) NamespaceScoped() bool { return true }
func (r *BindingREST) New() runtime.Object   { return &corev1.Binding{} }
func (r *BindingREST) Destroy()              {}

// PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate keeps the
// binding's uid and resourceVersion: they are preconditions on the pod.
func (r *BindingREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool { return true }

func (r *BindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	binding, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %#v", obj))
	}
	if name != binding.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	if errs := validateBinding(binding); len(errs) != 0 {
		return nil, errs.ToAggregate()
	}
	if createValidation != nil {
		if err := createValidation(ctx, binding.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if err := r.assignPod(ctx, binding, dryrun.IsDryRun(options.DryRun)); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// validateBinding is kube's ValidatePodBinding.
func validateBinding(b *corev1.Binding) field.ErrorList {
	var allErrs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("target", "name"), ""))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(b.Target.Name, false) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("target", "name"), b.Target.Name, msg))
		}
	}
	return allErrs
}

// assignPod sets the pod's node if it has none, merges the binding's
// annotations, and marks it scheduled; errors are kube's.
func (r *BindingREST) assignPod(ctx context.Context, b *corev1.Binding, dryRun bool) error {
	key, err := r.store.KeyFunc(ctx, b.Name)
	if err != nil {
		return err
	}
	var preconditions *storage.Preconditions
	if b.UID != "" || b.ResourceVersion != "" {
		preconditions = &storage.Preconditions{}
		if b.UID != "" {
			uid := types.UID(b.UID)
			preconditions.UID = &uid
		}
		if b.ResourceVersion != "" {
			preconditions.ResourceVersion = &b.ResourceVersion
		}
	}
	err = r.store.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, preconditions, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		pod := obj.(*corev1.Pod)
		switch {
		case pod.DeletionTimestamp != nil:
			return nil, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name)
		case pod.Spec.NodeName != "":
			return nil, fmt.Errorf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName)
		case len(pod.Spec.SchedulingGates) != 0:
			return nil, fmt.Errorf("pod %v has non-empty .spec.schedulingGates", pod.Name)
		}
		pod.Spec.NodeName = b.Target.Name
		// ClearingNominatedNodeNameAfterBinding is on by default in 1.37.
		pod.Status.NominatedNodeName = ""
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		for k, v := range b.Annotations {
			pod.Annotations[k] = v
		}
		// PodTopologyLabelsAdmission (on by default since 1.35) copies the
		// binding's labels, overwriting the pod's.
		if len(b.Labels) > 0 && pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		for k, v := range b.Labels {
			pod.Labels[k] = v
		}
		setCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
		return pod, nil
	}), dryRun, nil)
	if err != nil {
		err = storeerr.InterpretGetError(err, corev1.Resource("pods"), b.Name)
		err = storeerr.InterpretUpdateError(err, corev1.Resource("pods"), b.Name)
		if _, ok := err.(*apierrors.StatusError); !ok {
			err = apierrors.NewConflict(corev1.Resource("pods/binding"), b.Name, err)
		}
	}
	return err
}

// setCondition is kube's podutil.UpdatePodCondition: a condition's
// lastTransitionTime changes only when its status does.
func setCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	now := metav1.Now()
	c.LastTransitionTime = now
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	status.Conditions = append(status.Conditions, c)
}

// LegacyBindingREST serves /api/v1/namespaces/NS/bindings, the name taken
// from the body.
type LegacyBindingREST struct {
	binding *BindingREST
}

func (r *LegacyBindingREST) NamespaceScoped() bool { return true }
func (r *LegacyBindingREST) New() runtime.Object   { return &corev1.Binding{} }
func (r *LegacyBindingREST) Destroy()              {}
func (r *LegacyBindingREST) GetSingularName() string {
	return "binding"
}
func (r *LegacyBindingREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool {
	return true
}

func (r *LegacyBindingREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	return r.binding.Create(ctx, m.GetName(), obj, createValidation, options)
}
