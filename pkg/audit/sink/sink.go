// Package sink is an audit webhook receiver: it accepts the audit.k8s.io/v1
// EventLists that kube-apiserver's (and mini-apiserver's) webhook backend
// POSTs, keeps them in memory and/or appends them as JSON lines to files, and
// can inject faults (failed responses, latency, outages) for tests and demos.
package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// Options configure a Sink.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0 (a free port).
	Addr string
	// TLS serves HTTPS with this configuration when set. Set ClientCAs and
	// ClientAuth to require client certificates.
	TLS *tls.Config
	// OutputDir, when set, receives events as JSON lines: events.log, or one
	// <user>.log per user (the authenticated user's name) with PerUser.
	OutputDir string
	PerUser   bool
	// Writer, when set, also receives every event as a JSON line.
	Writer io.Writer
	// DiscardInMemory stops the sink from keeping events in memory (for
	// long-running use with OutputDir).
	DiscardInMemory bool
	// MaxBodyBytes bounds one request body; default 64 MiB.
	MaxBodyBytes int64
	// Observe, when set, is called with every delivery's events once they
	// are stored, and Rejected with why a body was not an EventList (the
	// live console takes both).
	Observe  func([]auditv1.Event)
	Rejected func(error)
	// Forward, when set, takes every delivery's events for a search store
	// (the Elasticsearch bulk API). A delivery it has no room for is
	// answered 503, so that the API server's webhook backend retries it.
	Forward *esbulk.Buffer
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

// Sink is a running audit webhook receiver.
type Sink struct {
	opts Options
	addr string

	mu          sync.Mutex
	cond        *sync.Cond
	listener    net.Listener
	server      *http.Server
	events      []auditv1.Event
	attempts    []Attempt
	badRequests int
	failNext    int
	failStatus  int
	latency     time.Duration
	files       map[string]*os.File
	closed      bool
	metrics     http.Handler
}

// Start listens and serves until Close.
func Start(opts Options) (*Sink, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 64 << 20
	}
	if opts.OutputDir != "" {
		if err := os.MkdirAll(opts.OutputDir, 0o700); err != nil {
			return nil, fmt.Errorf("audit sink output: %w", err)
		}
	}
	s := &Sink{opts: opts, files: map[string]*os.File{}}
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
	defer s.mu.Unlock()
	if s.server != nil {
		return nil
	}
	var l net.Listener
	var err error
	// The port may take a moment to be free again after Shutdown.
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("audit sink up: %w", err)
	}
	s.serve(l)
	return nil
}

// FailNext makes the next n deliveries fail with status.
func (s *Sink) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failStatus = n, status
}

// SetLatency delays every response by d.
func (s *Sink) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Events returns a copy of the events received so far, in arrival order.
func (s *Sink) Events() []auditv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]auditv1.Event(nil), s.events...)
}

// Attempts returns every delivery attempt, including failed ones.
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

// Close stops the sink and closes its files.
func (s *Sink) Close() error {
	err := s.Down()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, f := range s.files {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	s.files = map[string]*os.File{}
	return err
}

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
		s.metrics.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	latency := s.latency
	fail := s.failNext > 0
	status := s.failStatus
	if fail {
		s.failNext--
	}
	s.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	if r.Method != http.MethodPost {
		s.record(http.StatusMethodNotAllowed, nil)
		http.Error(w, "POST an audit.k8s.io/v1 EventList", http.StatusMethodNotAllowed)
		return
	}
	list, err := decode(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1), s.opts.MaxBodyBytes)
	if fail {
		// The body is read first so that a failed attempt still names its batch.
		s.record(status, list)
		http.Error(w, "failure injected by the audit sink", status)
		return
	}
	if err != nil {
		s.mu.Lock()
		s.badRequests++
		s.mu.Unlock()
		s.record(http.StatusBadRequest, nil)
		if s.opts.Rejected != nil {
			s.opts.Rejected(err)
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	typed(list.Items)
	if f := s.opts.Forward; f != nil {
		docs := make([]esbulk.Doc, 0, len(list.Items))
		for i := range list.Items {
			d, err := esbulk.NewDoc(&list.Items[i])
			if err != nil {
				s.record(http.StatusInternalServerError, list)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			docs = append(docs, d)
		}
		if !f.Offer(docs) {
			s.record(http.StatusServiceUnavailable, list)
			http.Error(w, "the forwarding buffer is full; retry later", http.StatusServiceUnavailable)
			return
		}
	}
	if err := s.store(list.Items); err != nil {
		s.record(http.StatusInternalServerError, list)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if s.opts.Observe != nil {
		s.opts.Observe(list.Items)
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
	s.attempts = append(s.attempts, a)
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

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._@-]`)

// fileName maps a user name to a file name that cannot escape OutputDir.
func fileName(user string) string {
	if user == "" {
		user = "unknown"
	}
	name := unsafeFileChars.ReplaceAllString(user, "_")
	if name == "." || name == ".." {
		name = "_" + name
	}
	return name + ".log"
}

func (s *Sink) store(events []auditv1.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("audit sink closed")
	}
	// Each event is encoded once and each destination written once per
	// delivery: a system call per event would cost more than the decoding.
	var out bytes.Buffer
	files := map[string]*bytes.Buffer{}
	if s.opts.Writer != nil || s.opts.OutputDir != "" {
		for i := range events {
			line, err := json.Marshal(&events[i])
			if err != nil {
				return err
			}
			line = append(line, '\n')
			if s.opts.Writer != nil {
				out.Write(line)
			}
			if s.opts.OutputDir != "" {
				name := "events.log"
				if s.opts.PerUser {
					name = fileName(events[i].User.Username)
				}
				if files[name] == nil {
					files[name] = new(bytes.Buffer)
				}
				files[name].Write(line)
			}
		}
	}
	if s.opts.Writer != nil {
		if _, err := s.opts.Writer.Write(out.Bytes()); err != nil {
			return fmt.Errorf("audit sink output: %w", err)
		}
	}
	for name, buf := range files {
		f, err := s.file(name)
		if err != nil {
			return err
		}
		if _, err := f.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("audit sink %s: %w", f.Name(), err)
		}
	}
	if !s.opts.DiscardInMemory {
		s.events = append(s.events, events...)
	}
	s.cond.Broadcast()
	return nil
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

func (s *Sink) file(name string) (*os.File, error) {
	if f, ok := s.files[name]; ok {
		return f, nil
	}
	f, err := os.OpenFile(filepath.Join(s.opts.OutputDir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit sink: %w", err)
	}
	s.files[name] = f
	return f, nil
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
