package pod

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

// Any JSON a client sends is decoded, defaulted, prepared and validated
// without a panic, and validation of a defaulted, prepared pod is stable.
func FuzzPodDecodeDefaultValidate(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"1"}}}],"volumes":[{"name":"v"},{"name":"s","secret":{}}]}}`,
		`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","image":"i@sha256:ab","livenessProbe":{"httpGet":{"port":1}},"env":[{"name":"X","valueFrom":{"fieldRef":{}}}]}],"tolerations":[{"operator":"Exists"}]}}`,
		`{"apiVersion":"v1","kind":"Pod","spec":{"initContainers":[{"name":"i"}],"ephemeralContainers":[{"name":"e","image":"x"}]}}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	decoder := api.Codecs.UniversalDecoder(corev1.SchemeGroupVersion)
	s := NewStrategy(api.Scheme)
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, _, err := decoder.Decode(data, nil, &corev1.Pod{})
		if err != nil {
			return
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if pod.Namespace == "" {
			pod.Namespace = "default"
		}
		s.PrepareForCreate(context.Background(), pod)
		first := ValidatePod(pod)
		second := ValidatePod(pod.DeepCopy())
		if len(first) != len(second) {
			t.Fatalf("validation not stable: %v vs %v", first, second)
		}
		_ = QOSClass(pod)
		if _, err := (TableConvertor{}).ConvertToTable(context.Background(), pod, nil); err != nil {
			t.Fatalf("table: %v", err)
		}
		updated := pod.DeepCopy()
		updated.ResourceVersion = "2"
		pod.ResourceVersion = "1"
		_ = ValidatePodUpdate(updated, pod)
	})
}
