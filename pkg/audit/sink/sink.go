// Package sink is an audit webhook receiver: it accepts the audit.k8s.io/v1
// EventLists that kube-apiserver's (and mini-apiserver's) webhook backend
// POSTs and hands each delivery to a consumer.Consumer (JSON-lines files,
// a search store, the console) and, unless told not to, keeps the events in
// memory for tests. It can inject faults (failed responses, latency,
// outages) for tests and demos.
package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/consumer"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// Options configure a Sink.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0 (a free port).
	Addr string
	// TLS serves HTTPS with this configuration when set. Set ClientCAs and
	// ClientAuth to require client certificates.
	TLS *tls.Config
	// Consumer takes every delivery's events (consumer.Union for several).
	// A delivery it does not take is answered 503, so that the API server's
	// webhook backend retries it.
	Consumer consumer.Consumer
	// DiscardInMemory stops the sink from keeping events in memory (for
	// long-running use).
	DiscardInMemory bool
	// MaxBodyBytes bounds one request body; default 64 MiB.
	MaxBodyBytes int64
	// Metrics are served at /metrics with the sink's own.
	Metrics []prometheus.Collector
}

// Attempt is one delivery attempt as the sink saw it.
type Attempt struct {
	Time   time.Time
	Status int
	// Events is the number of events in the body; they were delivered only
	// when Status is 200.
	Events int
	// Batch is "<auditID>/<stage>" of the body's first event: the webhook
	// resends the same batch on retry, so this follows one batch through its
	// retries when several are in flight.
	Batch string
}

// maxAttempts bounds the attempts a sink remembers: a long-running sink
// keeps the most recent ones (and counts all, by status, in /metrics).
const maxAttempts = 10000

// Sink is a running audit webhook receiver.
type Sink struct {
	opts     Options
	addr     string
	consumer consumer.Consumer
	faults   *faults
	metrics  http.Handler

	mu          sync.Mutex
	cond        *sync.Cond
	listener    net.Listener
	server      *http.Server
	events      []auditv1.Event
	attempts    []Attempt
	byStatus    map[int]int
	badRequests int
	closed      bool
}

// Start listens and serves until Close.
func Start(opts Options) (*Sink, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 64 << 20
	}
	s := &Sink{opts: opts, byStatus: map[int]int{}}
	// Faults first: an injected failure stores nothing anywhere.
	s.faults = &faults{next: consumer.Union(opts.Consumer, memory{s})}
	s.consumer = s.faults
	s.metrics = s.metricsHandler()
	s.cond = sync.NewCond(&s.mu)
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("audit sink: %w", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	return s, nil
}

func (s *Sink) serve(l net.Listener) {
	if s.opts.TLS != nil {
		l = tls.NewListener(l, s.opts.TLS)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.listener, s.server = l, srv
	go func() { _ = srv.Serve(l) }()
}

// URL is the sink's base URL (http:// or https://).
func (s *Sink) URL() string {
	scheme := "http"
	if s.opts.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + s.addr
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.addr }

// Down closes the listener: deliveries are refused until Up.
func (s *Sink) Down() error {
	s.mu.Lock()
	srv := s.server
	s.server, s.listener = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// Up listens again on the same address after Down.
func (s *Sink) Up() error {
	s.mu.Lock()
	up := s.server != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	var l net.Listener
	var err error
	// The port may take a moment to be free again after Shutdown.
	deadline := time.Now().Add(2 * time.Second)
	for l, err = net.Listen("tcp", s.addr); err != nil && time.Now().Before(deadline); l, err = net.Listen("tcp", s.addr) {
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("audit sink up: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil { // another Up won
		return l.Close()
	}
	s.serve(l)
	return nil
}

// FailNext makes the next n deliveries fail with status.
func (s *Sink) FailNext(n, status int) { s.faults.failNext(n, status) }

// SetLatency delays every delivery's answer by d.
func (s *Sink) SetLatency(d time.Duration) { s.faults.setLatency(d) }

// Events returns a copy of the events received so far, in arrival order.
func (s *Sink) Events() []auditv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]auditv1.Event(nil), s.events...)
}

// Attempts returns the delivery attempts, including failed ones: all, or
// the most recent 10,000 of a long-running sink.
func (s *Sink) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts...)
}

// BadRequests counts bodies that were not an audit EventList.
func (s *Sink) BadRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badRequests
}

// WaitFor blocks until cond holds for the events received, or ctx is done.
func (s *Sink) WaitFor(ctx context.Context, cond func([]auditv1.Event) bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !cond(s.events) {
		if ctx.Err() != nil {
			return fmt.Errorf("audit sink: %w (have %d events)", ctx.Err(), len(s.events))
		}
		s.cond.Wait()
	}
	return nil
}

// Close stops the sink; it does not close its consumer.
func (s *Sink) Close() error {
	err := s.Down()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
	return err
}

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
		s.metrics.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		s.record(http.StatusMethodNotAllowed, nil)
		http.Error(w, "POST an audit.k8s.io/v1 EventList", http.StatusMethodNotAllowed)
		return
	}
	list, err := decode(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1), s.opts.MaxBodyBytes)
	if err != nil {
		s.mu.Lock()
		s.badRequests++
		s.mu.Unlock()
		s.record(http.StatusBadRequest, nil)
		if rej, ok := s.opts.Consumer.(consumer.Rejecter); ok {
			rej.Reject(err)
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	typed(list.Items)
	if err := s.consumer.Consume(list.Items); err != nil {
		status := http.StatusServiceUnavailable
		var injected injectedFailure
		if errors.As(err, &injected) {
			status = int(injected)
		}
		s.record(status, list)
		http.Error(w, err.Error(), status)
		return
	}
	s.record(http.StatusOK, list)
	w.WriteHeader(http.StatusOK)
}

func (s *Sink) record(status int, list *auditv1.EventList) {
	a := Attempt{Time: time.Now(), Status: status}
	if list != nil {
		a.Events = len(list.Items)
		if len(list.Items) > 0 {
			a.Batch = string(list.Items[0].AuditID) + "/" + string(list.Items[0].Stage)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.attempts) >= maxAttempts {
		s.attempts = append(s.attempts[:0], s.attempts[maxAttempts/2:]...)
	}
	s.attempts = append(s.attempts, a)
	s.byStatus[status]++
}

// memory keeps the events in the sink for Events and WaitFor, the last
// consumer of every delivery.
type memory struct{ s *Sink }

func (m memory) Consume(events []auditv1.Event) error {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("audit sink closed")
	}
	if !s.opts.DiscardInMemory {
		s.events = append(s.events, events...)
	}
	s.cond.Broadcast()
	return nil
}

// faults is the fault injection, a decorator of the sink's consumer.
type faults struct {
	next consumer.Consumer

	mu      sync.Mutex
	fail    int
	status  int
	latency time.Duration
}

// injectedFailure is the status an injected failure answers.
type injectedFailure int

func (f injectedFailure) Error() string { return "failure injected by the audit sink" }

func (f *faults) failNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.status = n, status
}

func (f *faults) setLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

func (f *faults) Consume(events []auditv1.Event) error {
	f.mu.Lock()
	latency, fail, status := f.latency, f.fail > 0, f.status
	if fail {
		f.fail--
	}
	f.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	if fail {
		return injectedFailure(status)
	}
	return f.next.Consume(events)
}

// decode reads one EventList of audit.k8s.io/v1.
func decode(r io.Reader, limit int64) (*auditv1.EventList, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("body larger than %d bytes", limit)
	}
	return events.DecodeEventList(body)
}

// typed gives the items of an EventList, which carry no type, the type of
// an Event: written out alone, each is an Event exactly as the log backend
// writes it.
func typed(events []auditv1.Event) {
	for i := range events {
		if events[i].Kind == "" {
			events[i].APIVersion, events[i].Kind = auditv1.SchemeGroupVersion.String(), "Event"
		}
	}
}

// ClientCATLS returns a TLS config serving cert and requiring client
// certificates signed by clientCA (nil: no client certificates asked).
func ClientCATLS(cert tls.Certificate, clientCA *x509.CertPool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		cfg.ClientCAs = clientCA
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}
