package console

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// The timeline takes the least interval that keeps it within 60 bars, and
// counts every request once in the bar of its receipt.
func TestTimelineSteps(t *testing.T) {
	for _, tc := range []struct {
		span time.Duration
		step float64
	}{{0, 1}, {59 * time.Second, 1}, {61 * time.Second, 2}, {10 * time.Minute, 30}, {2 * time.Hour, 300}, {3 * 24 * time.Hour, 3 * 3600}} {
		s := NewStore(0)
		for i, at := range []time.Duration{0, tc.span / 2, tc.span} {
			ts := metav1.NewMicroTime(t0.Add(at))
			s.Add(auditv1.Event{AuditID: types.UID(fmt.Sprint(i)), Stage: auditv1.StageResponseComplete, Verb: "get", RequestReceivedTimestamp: ts, StageTimestamp: ts,
				ResponseStatus: &metav1.Status{Code: 200}})
		}
		tl := s.Query(Query{}).Timeline
		total := 0
		for _, b := range tl.Buckets {
			total += b.OK
		}
		if tl.Step != tc.step || len(tl.Buckets) > maxBuckets || total != 3 {
			t.Errorf("span %s: step %v s, %d bars, %d requests; want step %v, at most %d bars, 3", tc.span, tl.Step, len(tl.Buckets), total, tc.step, maxBuckets)
		}
	}
}
