package sink

import (
	"maps"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the sink's counters at /metrics (deliveries by the
// status answered) and Options.Metrics (e.g. the search store's).
func (s *Sink) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	deliveries := prometheus.NewDesc("audit_sink_deliveries_total", "Webhook deliveries by the HTTP status the sink answered.", []string{"code"}, nil)
	reg.MustRegister(collector{[]*prometheus.Desc{deliveries}, func(ch chan<- prometheus.Metric) {
		s.mu.Lock()
		byStatus := maps.Clone(s.byStatus)
		s.mu.Unlock()
		for code, n := range byStatus {
			ch <- prometheus.MustNewConstMetric(deliveries, prometheus.CounterValue, float64(n), strconv.Itoa(code))
		}
	}})
	reg.MustRegister(s.opts.Metrics...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// collector is a prometheus.Collector computed at each scrape.
type collector struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
