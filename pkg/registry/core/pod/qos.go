package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QOSClass computes status.qosClass as kube does: Guaranteed when every
// container sets equal cpu and memory requests and limits, BestEffort when no
// container sets any, Burstable otherwise.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Spec.Resources != nil {
		return qosOf([]corev1.ResourceRequirements{*pod.Spec.Resources})
	}
	var reqs []corev1.ResourceRequirements
	for _, c := range pod.Spec.InitContainers {
		reqs = append(reqs, c.Resources)
	}
	for _, c := range pod.Spec.Containers {
		reqs = append(reqs, c.Resources)
	}
	return qosOf(reqs)
}

var qosResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

func qosOf(reqs []corev1.ResourceRequirements) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	for _, r := range reqs {
		for _, name := range qosResources {
			if q, ok := r.Requests[name]; ok && !q.IsZero() {
				addTo(requests, name, q)
			}
			if q, ok := r.Limits[name]; ok && !q.IsZero() {
				addTo(limits, name, q)
			}
		}
		for _, name := range qosResources {
			if _, ok := r.Limits[name]; !ok {
				guaranteed = false
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(limits) == len(qosResources) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func addTo(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	if cur, ok := l[name]; ok {
		cur.Add(q)
		l[name] = cur
		return
	}
	l[name] = q.DeepCopy()
}
