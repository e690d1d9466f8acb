package event

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// REST serves events, in core/v1 and in events.k8s.io/v1: both are the
// core store, as kube's (its events.k8s.io provider builds the same
// NewREST), so an event written in one is read in the other.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// ShortNames implements rest.ShortNamesProvider.
func (*REST) ShortNames() []string { return []string{"ev"} }

// NewStorage returns the events store backed by optsGetter (etcd); every
// event is stored with an etcd lease of ttl (--event-ttl), as kube's.
func NewStorage(optsGetter generic.RESTOptionsGetter, ttl time.Duration) (*REST, error) {
	s := NewStrategy()
	seconds := uint64(ttl.Seconds())
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.Event{} },
		NewListFunc:               func() runtime.Object { return &corev1.EventList{} },
		PredicateFunc:             Match,
		TTLFunc:                   func(runtime.Object, uint64, bool) (uint64, error) { return seconds, nil },
		DefaultQualifiedResource:  corev1.Resource("events"),
		SingularQualifiedResource: corev1.Resource("event"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		TableConvertor:            eventTable,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: GetAttrs}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}

// eventTable is kube's (pkg/printers/internalversion printEvent), wide:
// kubectl shows the columns of priority 0.
var eventTable = table.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
		{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
		{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
		{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	},
	Cells: func(obj runtime.Object) []interface{} {
		e := obj.(*corev1.Event)
		first := table.Since(e.FirstTimestamp)
		if e.FirstTimestamp.IsZero() {
			first = table.Since(metav1.Time{Time: e.EventTime.Time})
		}
		last := table.Since(e.LastTimestamp)
		if e.LastTimestamp.IsZero() {
			last = first
		}
		count := e.Count
		if e.Series != nil {
			last, count = table.Since(metav1.Time{Time: e.Series.LastObservedTime.Time}), e.Series.Count
		} else if count == 0 {
			count = 1 // a singleton event of the new API has no count
		}
		target := strings.ToLower(e.InvolvedObject.Kind)
		if e.InvolvedObject.Name != "" {
			target += "/" + e.InvolvedObject.Name
		}
		source := firstNonEmpty(e.Source.Component, e.ReportingController)
		if instance := firstNonEmpty(e.Source.Host, e.ReportingInstance); instance != "" {
			source += ", " + instance
		}
		return []interface{}{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
			strings.TrimSpace(e.Message), first, int64(count), e.Name}
	},
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
