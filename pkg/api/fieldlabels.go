package api

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
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

func addFieldLabelConversions(s *runtime.Scheme) error {
	if err := s.AddFieldLabelConversionFunc(corev1.SchemeGroupVersion.WithKind("Pod"), allowLabels(PodFieldLabels)); err != nil {
		return err
	}
	return s.AddFieldLabelConversionFunc(corev1.SchemeGroupVersion.WithKind("Namespace"), allowLabels(NamespaceFieldLabels))
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
