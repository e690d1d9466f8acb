package pod

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Hot code of every pod write: defaulting is in pkg/api; here the strategy,
// validation and the table of every kubectl get.
func BenchmarkPrepareAndValidate(b *testing.B) {
	s := NewStrategy(nil)
	base := validPod()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pod := base.DeepCopy()
		s.PrepareForCreate(context.Background(), pod)
		if errs := ValidatePod(pod); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkValidateUpdate(b *testing.B) {
	old := validPod()
	old.ResourceVersion = "1"
	updated := old.DeepCopy()
	updated.Spec.Containers[0].Image = "nginx:2"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if errs := ValidatePodUpdate(updated, old); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkTable100Pods(b *testing.B) {
	list := &corev1.PodList{}
	for i := 0; i < 100; i++ {
		list.Items = append(list.Items, *validPod())
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := (TableConvertor{}).ConvertToTable(context.Background(), list, nil); err != nil {
			b.Fatal(err)
		}
	}
}
