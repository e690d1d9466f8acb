package registry_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	serverstorage "k8s.io/apiserver/pkg/server/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"
)

// The groups' serializer is the one whose encodings into memory (the audit
// event's copy of a response) take one buffer of their size: a 2 MB list
// in a buffer grown by doubling would have hundreds of KB to spare.
func TestGroupsEncodeIntoMemoryPresized(t *testing.T) {
	info, err := registry.NewAPIGroupInfo(corev1.SchemeGroupVersion, serverstorage.NewResourceConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := &corev1.ConfigMapList{}
	for i := range 200 {
		list.Items = append(list.Items, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(i)},
			Data: map[string]string{"d": strings.Repeat("x", 10<<10)}})
	}
	s, _ := runtime.SerializerInfoForMediaType(info.NegotiatedSerializer.SupportedMediaTypes(), runtime.ContentTypeJSON)
	var buf bytes.Buffer
	if err := info.NegotiatedSerializer.EncoderForVersion(s.Serializer, corev1.SchemeGroupVersion).Encode(list, &buf); err != nil {
		t.Fatal(err)
	}
	if spare := buf.Cap() - buf.Len(); spare >= 8<<10 {
		t.Errorf("a list of %d bytes was encoded into a buffer of %d", buf.Len(), buf.Cap())
	}
}
