package esbulk

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/klog/v2"
)

// BufferOptions bound and pace a Buffer.
type BufferOptions struct {
	// Capacity is how many documents may wait (default 10000); Offer
	// refuses what does not fit.
	Capacity int
	// BatchSize is the most documents a bulk request carries (default 500);
	// a partial batch goes after FlushInterval (default 1s).
	BatchSize     int
	FlushInterval time.Duration
	// Backoff paces retries; a document still not stored after
	// MaxRetryDuration (default 5m) is dropped and counted.
	Backoff          Backoff
	MaxRetryDuration time.Duration
}

// Backoff paces the retries of a bulk sender (Buffer, auditctl ship): the
// wait doubles from Initial (default 200ms) up to Max (default 10s).
type Backoff struct{ Initial, Max time.Duration }

// Next is the wait after a wait of prev (0 before the first retry).
func (b Backoff) Next(prev time.Duration) time.Duration {
	initial, most := b.Initial, b.Max
	if initial <= 0 {
		initial = 200 * time.Millisecond
	}
	if most <= 0 {
		most = 10 * time.Second
	}
	return min(max(2*prev, initial), most)
}

// Stats count what happened to the documents offered.
type Stats struct {
	// Stored were acknowledged by the store; Rejected it refused for good;
	// Expired were dropped after MaxRetryDuration of failures; Refused were
	// not taken (the buffer was full); Retries counts failed attempts.
	Stored, Rejected, Expired, Refused, Retries int64
	// Buffered are waiting or in flight.
	Buffered int
}

// Buffer takes documents, batches them into bulk requests and retries with
// backoff until the store acknowledges them: at-least-once. What it cannot
// deliver is counted in Stats and logged, never dropped silently.
type Buffer struct {
	client *Client
	opts   BufferOptions

	// sending is held by the one send in flight (the loop's or Close's).
	sending sync.Mutex
	mu      sync.Mutex
	queue   []Doc
	since   time.Time // when the head batch first failed
	stats   Stats
	failing bool

	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// NewBuffer starts sending through client.
func NewBuffer(client *Client, opts BufferOptions) *Buffer {
	if opts.Capacity <= 0 {
		opts.Capacity = 10000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MaxRetryDuration <= 0 {
		opts.MaxRetryDuration = 5 * time.Minute
	}
	b := &Buffer{client: client, opts: opts, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Offer takes all of docs or none: false when they do not fit (the caller
// should refuse its own delivery so that its sender retries). An empty
// buffer takes docs of any size, so that no delivery is refused for ever.
func (b *Buffer) Offer(docs []Doc) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.queue) > 0 && len(b.queue)+len(docs) > b.opts.Capacity {
		b.stats.Refused += int64(len(docs))
		return false
	}
	b.queue = append(b.queue, docs...)
	if len(b.queue) >= b.opts.BatchSize {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Stats reports the counts so far.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Buffered = len(b.queue)
	return s
}

// Close sends what is buffered until ctx is done; what is left then is
// counted as expired. It may be called more than once.
func (b *Buffer) Close(ctx context.Context) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	b.mu.Unlock()
	var wait time.Duration
	for {
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n == 0 {
			break
		}
		if b.send(ctx) {
			continue
		}
		wait = b.opts.Backoff.Next(wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	close(b.stop)
	<-b.done
	b.mu.Lock()
	if n := len(b.queue); n > 0 {
		b.stats.Expired += int64(n)
		klog.ErrorS(nil, "Elasticsearch bulk: documents still buffered at shutdown are dropped", "documents", n)
		b.queue = nil
	}
	b.mu.Unlock()
}

func (b *Buffer) run() {
	defer close(b.done)
	backoff := time.Duration(0)
	for {
		wait := b.opts.FlushInterval
		if backoff > 0 {
			wait = backoff
		}
		t := time.NewTimer(wait)
		select {
		case <-b.stop:
			t.Stop()
			return
		case <-b.wake:
			if backoff > 0 { // a full batch does not cut a backoff short
				<-t.C
			}
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
		closing := b.closed
		b.mu.Unlock()
		if closing {
			continue // Close sends the rest itself
		}
		for {
			ok := b.send(context.Background())
			if !ok {
				backoff = b.opts.Backoff.Next(backoff)
				break
			}
			backoff = 0
			b.mu.Lock()
			more := len(b.queue) >= b.opts.BatchSize
			b.mu.Unlock()
			if !more {
				break
			}
		}
	}
}

// send sends the head batch once; false when it must be retried.
func (b *Buffer) send(ctx context.Context) bool {
	b.sending.Lock()
	defer b.sending.Unlock()
	b.mu.Lock()
	n := min(len(b.queue), b.opts.BatchSize)
	batch := append([]Doc(nil), b.queue[:n]...)
	b.mu.Unlock()
	if n == 0 {
		return true
	}
	res, err := b.client.Bulk(ctx, batch)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Stored += int64(res.Done)
	if len(res.Rejected) > 0 {
		b.stats.Rejected += int64(len(res.Rejected))
		klog.ErrorS(nil, "Elasticsearch bulk: the store rejected documents; they are dropped", "documents", len(res.Rejected), "reason", res.Reason)
	}
	// The batch leaves the queue; what must be retried goes back in front.
	b.queue = append(res.Retry, b.queue[n:]...)
	if len(res.Retry) == 0 {
		if b.failing {
			klog.InfoS("Elasticsearch bulk: the store takes documents again", "url", b.client.opts.URL)
		}
		b.failing, b.since = false, time.Time{}
		return true
	}
	b.stats.Retries++
	if !b.failing {
		klog.ErrorS(err, "Elasticsearch bulk: sending failed; retrying with backoff", "url", b.client.opts.URL, "documents", len(res.Retry))
		b.failing, b.since = true, time.Now()
	}
	if time.Since(b.since) > b.opts.MaxRetryDuration {
		b.stats.Expired += int64(len(res.Retry))
		klog.ErrorS(err, "Elasticsearch bulk: documents dropped after retrying too long", "documents", len(res.Retry), "after", b.opts.MaxRetryDuration)
		b.queue = b.queue[len(res.Retry):]
		b.since = time.Now()
	}
	return false
}

// Consume offers the events to the buffer: consumer.Consumer, for the
// webhook receiver. A delivery that does not fit is refused (and counted),
// so that the receiver answers 503 and its sender retries.
func (b *Buffer) Consume(events []auditv1.Event) error {
	docs := make([]Doc, 0, len(events))
	for i := range events {
		// A webhook's events do not say which server sent them.
		d, err := NewDoc(&events[i], "")
		if err != nil {
			return err
		}
		docs = append(docs, d)
	}
	if !b.Offer(docs) {
		return ErrFull
	}
	return nil
}

// ErrFull is a delivery the buffer had no room for.
var ErrFull = errors.New("the forwarding buffer is full; retry later")

var (
	documentsDesc = prometheus.NewDesc("audit_sink_elasticsearch_documents_total",
		"Events forwarded to the search store by outcome: stored (acknowledged), rejected (refused for good by the store), "+
			"expired (dropped after retrying too long or at shutdown), refused (not taken: the buffer was full, the delivery answered 503).",
		[]string{"outcome"}, nil)
	bufferedDesc = prometheus.NewDesc("audit_sink_elasticsearch_buffered_documents", "Events waiting for the search store.", nil, nil)
	retriesDesc  = prometheus.NewDesc("audit_sink_elasticsearch_retries_total", "Bulk requests that failed and were retried.", nil, nil)
)

// Describe and Collect make the buffer's Stats a prometheus.Collector.
func (b *Buffer) Describe(ch chan<- *prometheus.Desc) {
	ch <- documentsDesc
	ch <- bufferedDesc
	ch <- retriesDesc
}

func (b *Buffer) Collect(ch chan<- prometheus.Metric) {
	st := b.Stats()
	for outcome, n := range map[string]int64{"stored": st.Stored, "rejected": st.Rejected, "expired": st.Expired, "refused": st.Refused} {
		ch <- prometheus.MustNewConstMetric(documentsDesc, prometheus.CounterValue, float64(n), outcome)
	}
	ch <- prometheus.MustNewConstMetric(bufferedDesc, prometheus.GaugeValue, float64(st.Buffered))
	ch <- prometheus.MustNewConstMetric(retriesDesc, prometheus.CounterValue, float64(st.Retries))
}
