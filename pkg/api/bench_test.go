package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Decoding a request body with defaulting, as every pod write does.
func BenchmarkDecodePod(b *testing.B) {
	body := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d","labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"500m"}}}]}}`)
	decoder := Codecs.UniversalDecoder(corev1.SchemeGroupVersion)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := decoder.Decode(body, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
