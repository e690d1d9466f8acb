package presized_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/mini-apiserver/mini-apiserver/internal/presized"
	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

// served is the serializer the library gives an API group: it encodes a
// list's items one at a time (StreamingCollectionsEncodingToJSON), so a
// bytes.Buffer it writes to grows by doubling.
var served = genericapiserver.NewDefaultAPIGroupInfo("", api.Scheme, api.ParameterCodec, api.Codecs).NegotiatedSerializer

// podList is n pods of about 10 KB, as the bench's LISTs.
func podList(n int) *corev1.PodList {
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}}
	for i := range n {
		list.Items = append(list.Items, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "default",
				Annotations: map[string]string{"padding": strings.Repeat("x", 10<<10)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		})
	}
	return list
}

// auditCopy is what the library's audit pipeline keeps of a response at
// RequestResponse when s is the API group's serializer: the event's
// responseObject, as a backend is given it.
func auditCopy(t testing.TB, s runtime.NegotiatedSerializer, obj runtime.Object) []byte {
	ctx := audit.WithAuditContext(context.Background())
	var raw []byte
	sink := sinkFunc(func(events ...*auditinternal.Event) bool {
		raw = events[0].ResponseObject.Raw
		return true
	})
	if err := audit.AuditContextFrom(ctx).Init(audit.RequestAuditConfig{Level: auditinternal.LevelRequestResponse}, sink); err != nil {
		t.Fatal(err)
	}
	audit.LogResponseObject(ctx, obj, corev1.SchemeGroupVersion, s)
	audit.AuditContextFrom(ctx).ProcessEventStage(ctx, auditinternal.StageResponseComplete)
	if raw == nil {
		t.Fatal("the audit event has no responseObject")
	}
	return raw
}

type sinkFunc func(events ...*auditinternal.Event) bool

func (f sinkFunc) ProcessEvents(events ...*auditinternal.Event) bool { return f(events...) }

// pageSize is how the runtime rounds a large allocation.
const pageSize = 8 << 10

func TestAuditCopyIsTheLibrarysBytesInABufferOfTheirSize(t *testing.T) {
	for _, n := range []int{0, 1, 3, 350} {
		t.Run(fmt.Sprintf("%d pods", n), func(t *testing.T) {
			list := podList(n)
			want := auditCopy(t, served, list)
			got := auditCopy(t, presized.NewNegotiatedSerializer(served), list)
			if !bytes.Equal(got, want) {
				t.Fatalf("the audit copy differs from the library's:\n got %.300s\nwant %.300s", got, want)
			}
			if n == 350 {
				// The library's buffer for these 3.6 MB has grown by doubling to 6 MiB.
				if spare := cap(want) - len(want); spare < pageSize {
					t.Fatalf("the library's buffer has %d bytes to spare: the test's list no longer shows the doubling", spare)
				}
				if spare := cap(got) - len(got); spare >= pageSize {
					t.Errorf("the audit copy of %d bytes is in a buffer of %d", len(got), cap(got))
				}
			}
		})
	}
}

// An encoder writing anywhere but into a bytes.Buffer (the response, a
// watch stream) is the wrapped one's, with its allocator.
func TestOtherWritersAreTheWrappedEncoders(t *testing.T) {
	info, _ := runtime.SerializerInfoForMediaType(served.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	wrapped := served.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
	e := presized.NewNegotiatedSerializer(served).EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
	if e.Identifier() != wrapped.Identifier() {
		t.Errorf("identifier %q, want the wrapped encoder's %q", e.Identifier(), wrapped.Identifier())
	}
	withAllocator, ok := e.(runtime.EncoderWithAllocator)
	if !ok {
		t.Fatal("the encoder lost EncodeWithAllocator")
	}
	list := podList(3)
	var want, got, viaEncode strings.Builder
	if err := wrapped.Encode(list, &want); err != nil {
		t.Fatal(err)
	}
	if err := withAllocator.EncodeWithAllocator(list, &got, &runtime.Allocator{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Encode(list, &viaEncode); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() || viaEncode.String() != want.String() {
		t.Errorf("encoded %d and %d bytes, want the wrapped encoder's %d", got.Len(), viaEncode.Len(), want.Len())
	}
}

// BenchmarkAuditCopy prints what the audit copy of a pod of 10 KB and of
// a LIST of 350 of them costs, through the library's serializer and ours,
// and what the event holds of it (held-B, the copy's capacity).
func BenchmarkAuditCopy(b *testing.B) {
	for _, n := range []int{1, 350} {
		list := podList(n)
		var obj runtime.Object = list
		if n == 1 {
			obj = &list.Items[0]
		}
		for _, c := range []struct {
			name string
			s    runtime.NegotiatedSerializer
		}{{"library", served}, {"presized", presized.NewNegotiatedSerializer(served)}} {
			b.Run(fmt.Sprintf("%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				var held int
				for b.Loop() {
					held = cap(auditCopy(b, c.s, obj))
				}
				b.ReportMetric(float64(held), "held-B")
			})
		}
	}
}
