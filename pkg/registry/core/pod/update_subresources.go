package pod

import (
	"context"
	"fmt"
	"reflect"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The pods/ephemeralcontainers and pods/resize subresources change one
// part of a pod's spec each and keep the rest, as kube's
// podEphemeralContainersStrategy and podResizeStrategy
// (pkg/registry/core/pod/strategy.go).

// keepOnly returns old with the parts take copies from new: spec and status
// are old's, metadata new's but for what only status writers may change.
func keepOnly(newPod, oldPod *corev1.Pod, take func(newSpec, spec *corev1.PodSpec)) {
	newSpec := newPod.Spec
	newPod.Spec = *oldPod.Spec.DeepCopy()
	newPod.Status = oldPod.Status
	metav1.ResetObjectMetaForStatus(&newPod.ObjectMeta, &oldPod.ObjectMeta)
	take(&newSpec, &newPod.Spec)
	updateGeneration(newPod, oldPod)
}

// updateGeneration is kube's updatePodGeneration: a spec change bumps it.
func updateGeneration(newPod, oldPod *corev1.Pod) {
	if !apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		newPod.Generation = oldPod.Generation + 1
	}
}

type ephemeralContainersStrategy struct{ podStrategy }

func (ephemeralContainersStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	keepOnly(obj.(*corev1.Pod), old.(*corev1.Pod), func(newSpec, spec *corev1.PodSpec) {
		spec.EphemeralContainers = newSpec.EphemeralContainers
	})
}

// ValidateUpdate is kube's ValidatePodEphemeralContainersUpdate: the pod
// stays valid, and ephemeral containers are only ever added.
func (ephemeralContainersStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newPod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidatePod(newPod)...)
	if _, ok := oldPod.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods do not support ephemeral containers")}
	}
	specPath := field.NewPath("spec", "ephemeralContainers")
	byName := map[string]*corev1.EphemeralContainer{}
	for i := range newPod.Spec.EphemeralContainers {
		byName[newPod.Spec.EphemeralContainers[i].Name] = &newPod.Spec.EphemeralContainers[i]
	}
	for _, o := range oldPod.Spec.EphemeralContainers {
		if n, ok := byName[o.Name]; !ok {
			allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("existing ephemeral containers %q may not be removed\n", o.Name)))
		} else if !apiequality.Semantic.DeepEqual(o, *n) {
			allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("existing ephemeral containers %q may not be changed\n%v", o.Name, cmp.Diff(o, *n))))
		}
	}
	return allErrs
}

func (ephemeralContainersStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// allowedEphemeralContainerFields is kube's: an ephemeral container has no
// ports, resources, probes or lifecycle.
var allowedEphemeralContainerFields = sets.New("Name", "Image", "Command", "Args", "WorkingDir", "EnvFrom", "Env",
	"VolumeMounts", "VolumeDevices", "TerminationMessagePath", "TerminationMessagePolicy", "ImagePullPolicy",
	"SecurityContext", "Stdin", "StdinOnce", "TTY")

// validateEphemeralContainers is kube's for what a pod spec checks of its
// ephemeral containers; names must differ from every container's.
func validateEphemeralContainers(spec *corev1.PodSpec, volumes, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	others := names.Clone()
	for i := range spec.EphemeralContainers {
		ec := &spec.EphemeralContainers[i]
		idxPath := fldPath.Index(i)
		c := corev1.Container(ec.EphemeralContainerCommon)
		allErrs = append(allErrs, validateContainer(&c, volumes, names, idxPath)...)
		if ec.TargetContainerName != "" && !others.Has(ec.TargetContainerName) {
			allErrs = append(allErrs, field.NotFound(idxPath.Child("targetContainerName"), ec.TargetContainerName))
		}
		v := reflect.ValueOf(ec.EphemeralContainerCommon)
		for f := 0; f < v.NumField(); f++ {
			name := v.Type().Field(f).Name
			if allowedEphemeralContainerFields.Has(name) || v.Field(f).IsZero() {
				continue
			}
			r, n := utf8.DecodeRuneInString(name)
			allErrs = append(allErrs, field.Forbidden(idxPath.Child(string(unicode.ToLower(r))+name[n:]), "cannot be set for an Ephemeral Container"))
		}
		for j, vm := range ec.VolumeMounts {
			if vm.SubPath != "" {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child("volumeMounts").Index(j).Child("subPath"), "cannot be set for an Ephemeral Container"))
			}
			if vm.SubPathExpr != "" {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child("volumeMounts").Index(j).Child("subPathExpr"), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return allErrs
}

type resizeStrategy struct{ podStrategy }

// PrepareForUpdate is kube's dropNonResizeUpdates: only containers'
// resources and resizePolicy are taken, when the containers are the same.
func (resizeStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newPod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	if len(newPod.Spec.Containers) != len(oldPod.Spec.Containers) || len(newPod.Spec.InitContainers) != len(oldPod.Spec.InitContainers) {
		return // validation names the difference
	}
	if !sameNames(newPod.Spec.Containers, oldPod.Spec.Containers) || !sameNames(newPod.Spec.InitContainers, oldPod.Spec.InitContainers) {
		return
	}
	keepOnly(newPod, oldPod, func(newSpec, spec *corev1.PodSpec) {
		for i := range spec.Containers {
			spec.Containers[i].Resources, spec.Containers[i].ResizePolicy = newSpec.Containers[i].Resources, newSpec.Containers[i].ResizePolicy
		}
		for i := range spec.InitContainers {
			spec.InitContainers[i].Resources, spec.InitContainers[i].ResizePolicy = newSpec.InitContainers[i].Resources, newSpec.InitContainers[i].ResizePolicy
		}
	})
}

func sameNames(a, b []corev1.Container) bool {
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// ValidateUpdate is kube's ValidatePodResize for containers' cpu and
// memory (pod-level resources stay off, as their resize gate is).
func (resizeStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newPod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidatePod(newPod)...)
	if _, ok := oldPod.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods cannot be resized")}
	}
	if oldPod.Spec.OS != nil && oldPod.Spec.OS.Name == corev1.Windows {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "windows pods cannot be resized")}
	}
	specPath := field.NewPath("spec")
	if oldPod.Status.QOSClass != QOSClass(newPod) {
		allErrs = append(allErrs, field.Invalid(specPath, newPod.Status.QOSClass, "Pod QOS Class may not change as a result of resizing"))
	}
	if newPod.Spec.Resources != nil || oldPod.Spec.Resources != nil {
		return append(allErrs, field.Forbidden(field.NewPath(""), "resize of pods with pod-level resources is forbidden when InPlacePodLevelResourcesVerticalScalingEnabled feature gate is disabled"))
	}
	ordering := resizeOrdering(newPod.Spec.Containers, oldPod.Spec.Containers, specPath.Child("containers"), "containers")
	ordering = append(ordering, resizeOrdering(newPod.Spec.InitContainers, oldPod.Spec.InitContainers, specPath.Child("initContainers"), "initContainers")...)
	if len(ordering) > 0 {
		return append(allErrs, ordering...)
	}
	initPath, ctrPath := specPath.Child("initContainers"), specPath.Child("containers")
	for i := range oldPod.Spec.InitContainers {
		allErrs = append(allErrs, resourcesNotRemoved(&newPod.Spec.InitContainers[i], &oldPod.Spec.InitContainers[i], initPath.Index(i).Child("resources"))...)
	}
	for i := range oldPod.Spec.Containers {
		allErrs = append(allErrs, resourcesNotRemoved(&newPod.Spec.Containers[i], &oldPod.Spec.Containers[i], ctrPath.Index(i).Child("resources"))...)
	}
	for i := range newPod.Spec.Containers {
		if !onlyCPUMemoryChanged(&newPod.Spec.Containers[i], &oldPod.Spec.Containers[i]) {
			allErrs = append(allErrs, field.Forbidden(specPath, "only cpu and memory resources are mutable"))
		}
	}
	for i := range newPod.Spec.InitContainers {
		newC, oldC := &newPod.Spec.InitContainers[i], &oldPod.Spec.InitContainers[i]
		if !onlyCPUMemoryChanged(newC, oldC) {
			allErrs = append(allErrs, field.Forbidden(initPath.Index(i), "only cpu and memory resources for init or sidecar containers are mutable"))
		}
		sidecar := oldC.RestartPolicy != nil && *oldC.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if !sidecar && !apiequality.Semantic.DeepEqual(*newC, *oldC) {
			for _, p := range newC.ResizePolicy {
				if p.RestartPolicy == corev1.RestartContainer {
					allErrs = append(allErrs, field.Forbidden(initPath.Index(i), "non-sidecar init containers with a resize policy of RestartContainer cannot be resized"))
				}
			}
		}
	}
	return allErrs
}

func (resizeStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func resizeOrdering(newCs, oldCs []corev1.Container, fldPath *field.Path, what string) field.ErrorList {
	if len(newCs) != len(oldCs) {
		return field.ErrorList{field.Forbidden(fldPath, what+" may not be added or removed on resize")}
	}
	var allErrs field.ErrorList
	for i := range oldCs {
		if newCs[i].Name != oldCs[i].Name {
			allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("name"), what+" may not be renamed or reordered on resize"))
		}
	}
	return allErrs
}

// resourcesNotRemoved is kube's validateContainerResize: requests and
// limits may change, not go.
func resourcesNotRemoved(newC, oldC *corev1.Container, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if resourcesRemoved(newC.Resources.Requests, oldC.Resources.Requests) {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("requests"), "resource requests cannot be removed"))
	}
	if resourcesRemoved(newC.Resources.Limits, oldC.Resources.Limits) {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("limits"), "resource limits cannot be removed"))
	}
	return allErrs
}

// onlyCPUMemoryChanged is kube's dropCPUMemoryResourcesFromContainer and
// compare: with old's cpu and memory put back, newC must equal oldC.
func onlyCPUMemoryChanged(newC, oldC *corev1.Container) bool {
	c := *newC.DeepCopy()
	c.Resources = corev1.ResourceRequirements{
		Limits:   withOldCPUMemory(c.Resources.Limits, oldC.Resources.Limits),
		Requests: withOldCPUMemory(c.Resources.Requests, oldC.Resources.Requests),
		Claims:   c.Resources.Claims,
	}
	return apiequality.Semantic.DeepEqual(c, *oldC)
}

// withOldCPUMemory is kube's dropCPUMemoryUpdates.
func withOldCPUMemory(list, old corev1.ResourceList) corev1.ResourceList {
	if list == nil && old == nil {
		return nil
	}
	out := corev1.ResourceList{}
	for name, q := range list {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			out[name] = q
		}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := old[name]; ok {
			out[name] = q
		}
	}
	return out
}

func resourcesRemoved(list, old corev1.ResourceList) bool {
	for name := range old {
		if _, ok := list[name]; !ok {
			return true
		}
	}
	return false
}
