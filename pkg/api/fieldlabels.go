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

// SecretFieldLabels are the field selectors kube-apiserver accepts for secrets.
var SecretFieldLabels = []string{
	"metadata.name",
	"metadata.namespace",
	"type",
}

func addFieldLabelConversions(s *runtime.Scheme) error {
	for kind, labels := range map[string][]string{"Pod": PodFieldLabels, "Namespace": NamespaceFieldLabels, "Secret": SecretFieldLabels} {
		if err := s.AddFieldLabelConversionFunc(corev1.SchemeGroupVersion.WithKind(kind), allowLabels(labels)); err != nil {
			return err
		}
	}
	return nil
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
