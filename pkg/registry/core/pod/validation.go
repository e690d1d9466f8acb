package pod

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The checks and messages below follow kube-apiserver's
// pkg/apis/core/validation for the fields users set most; field paths and
// error types (Required, Invalid, NotSupported, Duplicate, ...) are kube's.

var (
	restartPolicies   = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	dnsPolicies       = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	pullPolicies      = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	protocols         = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	terminationMsgPol = []corev1.TerminationMessagePolicy{corev1.TerminationMessageFallbackToLogsOnError, corev1.TerminationMessageReadFile}
	tolerationOps     = []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}
	taintEffects      = []corev1.TaintEffect{corev1.TaintEffectNoExecute, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}
	podPhases         = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}
)

// ValidatePod validates a new pod.
func ValidatePod(pod *corev1.Pod) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validatePodSpec(&pod.Spec, field.NewPath("spec"))...)
}

// ValidatePodTemplateSpec is kube's: a template's labels and annotations
// (at fldPath.labels, not metadata) and its pod spec; no ephemeral
// containers.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	allErrs := metav1validation.ValidateLabels(t.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, apivalidation.ValidateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodSpec(&t.Spec, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return allErrs
}

func validatePodSpec(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	volumes, errs := validateVolumes(spec.Volumes, fldPath.Child("volumes"))
	allErrs = append(allErrs, errs...)

	if len(spec.Containers) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("containers"), ""))
	}
	names := sets.New[string]()
	allErrs = append(allErrs, validateContainers(spec.InitContainers, volumes, names, fldPath.Child("initContainers"))...)
	allErrs = append(allErrs, validateContainers(spec.Containers, volumes, names, fldPath.Child("containers"))...)
	allErrs = append(allErrs, validateEphemeralContainers(spec, volumes, names, fldPath.Child("ephemeralContainers"))...)

	allErrs = append(allErrs, validateEnum(spec.RestartPolicy, restartPolicies, fldPath.Child("restartPolicy"))...)
	allErrs = append(allErrs, validateEnum(spec.DNSPolicy, dnsPolicies, fldPath.Child("dnsPolicy"))...)
	allErrs = append(allErrs, metav1validation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.ServiceAccountName, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if spec.NodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.NodeName, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		v := *spec.ActiveDeadlineSeconds
		if v < 1 || v > math.MaxInt32 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	for _, dns := range []struct{ name, value string }{{"hostname", spec.Hostname}, {"subdomain", spec.Subdomain}} {
		if dns.value == "" {
			continue
		}
		for _, msg := range validation.IsDNS1123Label(dns.value) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(dns.name), dns.value, msg))
		}
	}
	allErrs = append(allErrs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	return allErrs
}

func validateEnum[T ~string](value T, allowed []T, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	valid := make([]string, len(allowed))
	for i, a := range allowed {
		valid[i] = string(a)
	}
	return field.ErrorList{field.NotSupported(fldPath, value, valid)}
}

func validateVolumes(volumes []corev1.Volume, fldPath *field.Path) (sets.Set[string], field.ErrorList) {
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i, v := range volumes {
		idxPath := fldPath.Index(i)
		switch {
		case v.Name == "":
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		case names.Has(v.Name):
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), v.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(v.Name) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), v.Name, msg))
			}
		}
		names.Insert(v.Name)
		switch n := countVolumeSources(&v.VolumeSource); {
		case n == 0:
			allErrs = append(allErrs, field.Required(idxPath, "must specify a volume type"))
		case n > 1:
			allErrs = append(allErrs, field.Forbidden(idxPath, "may not specify more than 1 volume type"))
		}
	}
	return names, allErrs
}

func countVolumeSources(src *corev1.VolumeSource) int {
	n := 0
	v := reflect.ValueOf(src).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}

func validateContainers(containers []corev1.Container, volumes sets.Set[string], names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i := range containers {
		allErrs = append(allErrs, validateContainer(&containers[i], volumes, names, fldPath.Index(i))...)
	}
	return allErrs
}

// validateContainer checks one container (regular, init or ephemeral) at
// idxPath; its name must not be in names, and is added.
func validateContainer(c *corev1.Container, volumes sets.Set[string], names sets.Set[string], idxPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	namePath := idxPath.Child("name")
	switch {
	case c.Name == "":
		allErrs = append(allErrs, field.Required(namePath, ""))
	case names.Has(c.Name):
		allErrs = append(allErrs, field.Duplicate(namePath, c.Name))
	default:
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			allErrs = append(allErrs, field.Invalid(namePath, c.Name, msg))
		}
	}
	names.Insert(c.Name)
	if c.Image == "" {
		allErrs = append(allErrs, field.Required(idxPath.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		allErrs = append(allErrs, field.Invalid(idxPath.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	allErrs = append(allErrs, validateEnum(c.ImagePullPolicy, pullPolicies, idxPath.Child("imagePullPolicy"))...)
	allErrs = append(allErrs, validateEnum(c.TerminationMessagePolicy, terminationMsgPol, idxPath.Child("terminationMessagePolicy"))...)
	allErrs = append(allErrs, validatePorts(c.Ports, idxPath.Child("ports"))...)
	allErrs = append(allErrs, validateEnv(c.Env, idxPath.Child("env"))...)
	allErrs = append(allErrs, validateResources(&c.Resources, idxPath.Child("resources"))...)
	for j, m := range c.VolumeMounts {
		mPath := idxPath.Child("volumeMounts").Index(j)
		if m.Name == "" {
			allErrs = append(allErrs, field.Required(mPath.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			allErrs = append(allErrs, field.NotFound(mPath.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			allErrs = append(allErrs, field.Required(mPath.Child("mountPath"), ""))
		}
	}
	return allErrs
}

func validatePorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idxPath := fldPath.Index(i)
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		if p.ContainerPort == 0 {
			allErrs = append(allErrs, field.Required(idxPath.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("containerPort"), p.ContainerPort, msg))
			}
		}
		if p.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(p.HostPort)) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostPort"), p.HostPort, msg))
			}
		}
		allErrs = append(allErrs, validateEnum(p.Protocol, protocols, idxPath.Child("protocol"))...)
	}
	return allErrs
}

func validateEnv(env []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, e := range env {
		idxPath := fldPath.Index(i)
		if e.Name == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
			continue
		}
		for _, msg := range validation.IsEnvVarName(e.Name) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), e.Name, msg))
		}
		if e.Value != "" && e.ValueFrom != nil {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
		}
	}
	return allErrs
}

func validateResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, l := range []struct {
		name string
		list corev1.ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for name, q := range l.list {
			if q.Sign() < 0 {
				allErrs = append(allErrs, field.Invalid(fldPath.Child(l.name).Key(string(name)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return allErrs
}

func validateTolerations(tolerations []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, t := range tolerations {
		idxPath := fldPath.Index(i)
		if t.Key != "" {
			allErrs = append(allErrs, metav1validation.ValidateLabelName(t.Key, idxPath.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("effect"), t.Effect,
				"effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		if t.Operator != "" {
			allErrs = append(allErrs, validateEnum(t.Operator, tolerationOps, idxPath.Child("operator"))...)
		}
		if t.Operator == corev1.TolerationOpExists && t.Value != "" {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
		}
		if t.Effect != "" {
			allErrs = append(allErrs, validateEnum(t.Effect, taintEffects, idxPath.Child("effect"))...)
		}
	}
	return allErrs
}

// updatableSpecFields is kube's wording of what a pod update may change.
const updatableSpecFields = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`," +
	"`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

// ValidatePodUpdate validates an update of a pod's metadata and spec.
func ValidatePodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validatePodSpec(&newPod.Spec, specPath)...)
	if len(allErrs) > 0 {
		return allErrs
	}
	if len(newPod.Spec.Containers) != len(oldPod.Spec.Containers) {
		return append(allErrs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if old := oldPod.Spec.ActiveDeadlineSeconds; old != nil {
		if n := newPod.Spec.ActiveDeadlineSeconds; n == nil || *n > *old {
			allErrs = append(allErrs, field.Invalid(specPath.Child("activeDeadlineSeconds"), n,
				"must be less than or equal to previous value"))
		}
	}
	for i, t := range oldPod.Spec.Tolerations {
		if !containsToleration(newPod.Spec.Tolerations, t) {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("tolerations").Index(i), "existing toleration can not be modified except its tolerationSeconds"))
		}
	}

	// Copy the fields that may change from the old spec; anything still
	// different is a forbidden change.
	munged := *newPod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldPod.Spec.Containers[i].Image
	}
	if len(munged.InitContainers) == len(oldPod.Spec.InitContainers) {
		for i := range munged.InitContainers {
			munged.InitContainers[i].Image = oldPod.Spec.InitContainers[i].Image
		}
	}
	munged.ActiveDeadlineSeconds = oldPod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = oldPod.Spec.Tolerations
	if old := oldPod.Spec.TerminationGracePeriodSeconds; old != nil && *old < 0 {
		if n := munged.TerminationGracePeriodSeconds; n != nil && *n == 1 {
			munged.TerminationGracePeriodSeconds = old
		}
	}
	if !apiequality.Semantic.DeepEqual(munged, oldPod.Spec) {
		diff := cmp.Diff(oldPod.Spec, munged)
		allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v", updatableSpecFields, diff)))
	}
	return allErrs
}

func containsToleration(list []corev1.Toleration, t corev1.Toleration) bool {
	for _, c := range list {
		if c.Key == t.Key && c.Operator == t.Operator && c.Value == t.Value && c.Effect == t.Effect {
			return true
		}
	}
	return false
}

// ValidatePodStatusUpdate validates a write to pods/status.
func ValidatePodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, field.NewPath("metadata"))
	if newPod.Status.Phase != "" {
		allErrs = append(allErrs, validateEnum(newPod.Status.Phase, podPhases, field.NewPath("status", "phase"))...)
	}
	return allErrs
}
