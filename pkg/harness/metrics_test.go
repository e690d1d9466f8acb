package harness

import (
	"testing"

	"k8s.io/component-base/metrics/testutil"
)

func TestMetricsValue(t *testing.T) {
	m := testutil.NewMetrics()
	if err := testutil.ParseMetrics(`# TYPE apiserver_audit_error_total counter
apiserver_audit_error_total{plugin="buffered"} 3
apiserver_audit_error_total{plugin="webhook"} 5
# TYPE apiserver_audit_event_total counter
apiserver_audit_event_total 42
`, &m); err != nil {
		t.Fatal(err)
	}
	metrics := Metrics{m}
	for selector, want := range map[string]float64{
		"apiserver_audit_event_total":                    42,
		`apiserver_audit_error_total{plugin="webhook"}`:  5,
		`apiserver_audit_error_total{plugin="buffered"}`: 3,
		"apiserver_audit_error_total":                    8,
		`apiserver_audit_error_total{plugin="log"}`:      0,
		"absent_total": 0,
	} {
		if got := metrics.Value(selector); got != want {
			t.Errorf("%s = %v, want %v", selector, got, want)
		}
	}
}
