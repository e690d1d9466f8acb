package api

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodFieldLabels are the field selectors kube-apiserver accepts for pods.
var PodFieldLabels = []string{
	"metadata.name",
	"metadata.namespace",
	"spec.nodeName",
	"spec.restartPolicy",
	"spec.schedulerName",
	"spec.serviceAccountName",
	"spec.hostNetwork",
	"status.phase",
	"status.podIP",
	"status.nominatedNodeName",
}

// NamespaceFieldLabels are the field selectors kube-apiserver accepts for namespaces.
var NamespaceFieldLabels = []string{
	"metadata.name",
	"status.phase",
}

// SecretFieldLabels are the field selectors kube-apiserver accepts for secrets.
var SecretFieldLabels = []string{
	"metadata.name",
	"metadata.namespace",
	"type",
}

// EventFieldLabels are the field selectors kube-apiserver accepts for
// core/v1 events.
var EventFieldLabels = []string{
	"involvedObject.kind",
	"involvedObject.namespace",
	"involvedObject.name",
	"involvedObject.uid",
	"involvedObject.apiVersion",
	"involvedObject.resourceVersion",
	"involvedObject.fieldPath",
	"reason",
	"reportingComponent",
	"source",
	"type",
	"metadata.namespace",
	"metadata.name",
}

// eventsV1FieldLabels maps events.k8s.io/v1's field selectors to the
// fields of the one events store (kube's AddFieldLabelConversionsForEvent).
var eventsV1FieldLabels = map[string]string{
	"reason":                    "reason",
	"regarding.kind":            "involvedObject.kind",
	"regarding.namespace":       "involvedObject.namespace",
	"regarding.name":            "involvedObject.name",
	"regarding.uid":             "involvedObject.uid",
	"regarding.apiVersion":      "involvedObject.apiVersion",
	"regarding.resourceVersion": "involvedObject.resourceVersion",
	"regarding.fieldPath":       "involvedObject.fieldPath",
	"reportingController":       "reportingComponent",
	"type":                      "type",
	"metadata.namespace":        "metadata.namespace",
	"metadata.name":             "metadata.name",
}

func addFieldLabelConversions(s *runtime.Scheme) error {
	for kind, labels := range map[string][]string{"Pod": PodFieldLabels, "Namespace": NamespaceFieldLabels, "Secret": SecretFieldLabels, "Event": EventFieldLabels} {
		if err := s.AddFieldLabelConversionFunc(corev1.SchemeGroupVersion.WithKind(kind), allowLabels(labels)); err != nil {
			return err
		}
	}
	return s.AddFieldLabelConversionFunc(eventsv1.SchemeGroupVersion.WithKind("Event"), func(label, value string) (string, string, error) {
		mapped, ok := eventsV1FieldLabels[label]
		if !ok {
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}
		return mapped, value, nil
	})
}

func allowLabels(labels []string) runtime.FieldLabelConversionFunc {
	allowed := make(map[string]bool, len(labels))
	for _, l := range labels {
		allowed[l] = true
	}
	return func(label, value string) (string, string, error) {
		if !allowed[label] {
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}
		return label, value, nil
	}
}
