package api

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// events.k8s.io/v1 is a second view of the core events: its internal
// version is the core Event (as kube's pkg/apis/events registers
// core.Event), and these conversions are kube's
// (pkg/apis/events/v1/conversion.go): involvedObject is regarding, message
// is note, source, firstTimestamp, lastTimestamp and count are deprecated*.
func addEventsV1(s *runtime.Scheme) error {
	internal := schema.GroupVersion{Group: eventsv1.GroupName, Version: runtime.APIVersionInternal}
	s.AddKnownTypes(internal, &corev1.Event{}, &corev1.EventList{})
	for _, add := range []func(*runtime.Scheme) error{
		conversion2(func(in *eventsv1.Event, out *corev1.Event, _ conversion.Scope) error {
			*out = eventToCore(in)
			return nil
		}),
		conversion2(func(in *corev1.Event, out *eventsv1.Event, _ conversion.Scope) error {
			*out = eventToV1(in)
			return nil
		}),
		conversion2(func(in *eventsv1.EventList, out *corev1.EventList, _ conversion.Scope) error {
			out.ListMeta = in.ListMeta
			out.Items = nil
			for i := range in.Items {
				out.Items = append(out.Items, eventToCore(&in.Items[i]))
			}
			return nil
		}),
		conversion2(func(in *corev1.EventList, out *eventsv1.EventList, _ conversion.Scope) error {
			out.ListMeta = in.ListMeta
			out.Items = nil
			for i := range in.Items {
				out.Items = append(out.Items, eventToV1(&in.Items[i]))
			}
			return nil
		}),
	} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}

func eventToCore(in *eventsv1.Event) corev1.Event {
	out := corev1.Event{
		ObjectMeta:          in.ObjectMeta,
		EventTime:           in.EventTime,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
		Action:              in.Action,
		Reason:              in.Reason,
		InvolvedObject:      in.Regarding,
		Related:             in.Related,
		Message:             in.Note,
		Type:                in.Type,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out
}

func eventToV1(in *corev1.Event) eventsv1.Event {
	out := eventsv1.Event{
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out
}

// conversion2 registers a conversion from *A to *B.
func conversion2[A, B any](convert func(*A, *B, conversion.Scope) error) func(*runtime.Scheme) error {
	return func(s *runtime.Scheme) error {
		return s.AddConversionFunc((*A)(nil), (*B)(nil), func(a, b interface{}, scope conversion.Scope) error {
			return convert(a.(*A), b.(*B), scope)
		})
	}
}
