package sink

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the sink's counters at /metrics: deliveries by the
// status answered and, when forwarding, what became of the documents.
func (s *Sink) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	deliveries := prometheus.NewDesc("audit_sink_deliveries_total", "Webhook deliveries by the HTTP status the sink answered.", []string{"code"}, nil)
	reg.MustRegister(collector{[]*prometheus.Desc{deliveries}, func(ch chan<- prometheus.Metric) {
		byCode := map[int]float64{}
		for _, a := range s.Attempts() {
			byCode[a.Status]++
		}
		for code, n := range byCode {
			ch <- prometheus.MustNewConstMetric(deliveries, prometheus.CounterValue, n, strconv.Itoa(code))
		}
	}})
	if f := s.opts.Forward; f != nil {
		docs := prometheus.NewDesc("audit_sink_elasticsearch_documents_total",
			"Events forwarded to the search store by outcome: stored (acknowledged), rejected (refused for good by the store), "+
				"expired (dropped after retrying too long or at shutdown), refused (not taken: the buffer was full, the delivery answered 503).",
			[]string{"outcome"}, nil)
		buffered := prometheus.NewDesc("audit_sink_elasticsearch_buffered_documents", "Events waiting for the search store.", nil, nil)
		retries := prometheus.NewDesc("audit_sink_elasticsearch_retries_total", "Bulk requests that failed and were retried.", nil, nil)
		reg.MustRegister(collector{[]*prometheus.Desc{docs, buffered, retries}, func(ch chan<- prometheus.Metric) {
			st := f.Stats()
			for outcome, n := range map[string]int64{"stored": st.Stored, "rejected": st.Rejected, "expired": st.Expired, "refused": st.Refused} {
				ch <- prometheus.MustNewConstMetric(docs, prometheus.CounterValue, float64(n), outcome)
			}
			ch <- prometheus.MustNewConstMetric(buffered, prometheus.GaugeValue, float64(st.Buffered))
			ch <- prometheus.MustNewConstMetric(retries, prometheus.CounterValue, float64(st.Retries))
		}})
	}
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
