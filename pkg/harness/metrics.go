package harness

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/metrics/testutil"
)

// Metrics is one read of a server's /metrics, parsed by
// k8s.io/component-base/metrics/testutil.
type Metrics struct{ samples testutil.Metrics }

// Metrics reads /metrics once.
func (s *Server) Metrics(ctx context.Context) (Metrics, error) {
	client, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		return Metrics{}, err
	}
	return ReadMetrics(ctx, client)
}

// ReadMetrics reads /metrics once through client.
func ReadMetrics(ctx context.Context, client kubernetes.Interface) (Metrics, error) {
	body, err := client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return Metrics{}, fmt.Errorf("/metrics: %w", err)
	}
	m := testutil.NewMetrics()
	if err := testutil.ParseMetrics(string(body), &m); err != nil {
		return Metrics{}, fmt.Errorf("/metrics: %w", err)
	}
	return Metrics{m}, nil
}

// Value is the sum of the samples a selector names, as in the exposition
// format: `apiserver_audit_event_total` or
// `apiserver_audit_error_total{plugin="webhook"}` (samples whose labels
// include every label given). 0 when none is present.
func (m Metrics) Value(selector string) float64 {
	name, labels := parseSelector(selector)
	var sum float64
	for _, sample := range m.samples[name] {
		match := true
		for k, v := range labels {
			if string(sample.Metric[testutil.LabelName(k)]) != v {
				match = false
				break
			}
		}
		if match {
			sum += float64(sample.Value)
		}
	}
	return sum
}

func parseSelector(selector string) (string, map[string]string) {
	name, rest, ok := strings.Cut(selector, "{")
	if !ok {
		return selector, nil
	}
	labels := map[string]string{}
	for _, pair := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		if k, v, ok := strings.Cut(pair, "="); ok {
			labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return name, labels
}
