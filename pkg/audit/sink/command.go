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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	certutil "k8s.io/client-go/util/cert"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/console"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/consumer"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

// CommandOptions are audit-sink's flags: the receiver, where events go
// (files, standard output, a search store, the console), fault injection.
type CommandOptions struct {
	Listen                string
	CertFile, KeyFile     string
	ClientCAFile          string
	OutputDir             string
	PerUser, Stdout       bool
	FailFirst, FailStatus int
	Latency               time.Duration
	ConsoleAddr           string
	ConsoleSecurity       console.SecurityFlags
	PolicyFile            string
	ControlListen         string

	Elasticsearch         esbulk.Flags
	ElasticsearchBuffer   esbulk.BufferOptions
	ElasticsearchShutdown time.Duration
}

// NewCommandOptions returns audit-sink's defaults.
func NewCommandOptions() *CommandOptions {
	return &CommandOptions{
		Listen: "127.0.0.1:9443", FailStatus: http.StatusServiceUnavailable,
		Elasticsearch:         esbulk.Flags{Index: esbulk.DefaultIndex},
		ElasticsearchBuffer:   esbulk.BufferOptions{Capacity: 10000, BatchSize: 500, FlushInterval: time.Second, MaxRetryDuration: 5 * time.Minute},
		ElasticsearchShutdown: 30 * time.Second,
	}
}

// AddFlags adds audit-sink's flags.
func (o *CommandOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "address to receive audit events on")
	fs.StringVar(&o.CertFile, "tls-cert-file", o.CertFile, "serve HTTPS with this certificate (PEM); HTTP without it")
	fs.StringVar(&o.KeyFile, "tls-private-key-file", o.KeyFile, "private key of --tls-cert-file")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "require client certificates signed by this CA (needs HTTPS)")
	fs.StringVar(&o.OutputDir, "output-dir", o.OutputDir, "append events as JSON lines to DIR/events.log (or DIR/<user>.log with --per-user)")
	fs.BoolVar(&o.PerUser, "per-user", o.PerUser, "with --output-dir, one file per user")
	fs.BoolVar(&o.Stdout, "stdout", o.Stdout, "also write every event as a JSON line to standard output (the default without --output-dir)")
	fs.IntVar(&o.FailFirst, "fail-first", o.FailFirst, "fail the first N deliveries (fault injection)")
	fs.IntVar(&o.FailStatus, "fail-status", o.FailStatus, "HTTP status of injected failures")
	fs.DurationVar(&o.Latency, "latency", o.Latency, "delay every response by this long")
	fs.StringVar(&o.ConsoleAddr, "console-address", o.ConsoleAddr, "serve the live audit console for the events received on this address (e.g. 127.0.0.1:8077)")
	o.ConsoleSecurity.AddFlags(fs, "console-")
	fs.StringVar(&o.PolicyFile, "policy", o.PolicyFile, "with --console-address: the API server's audit policy, to show the rule that decided each request's level")
	fs.StringVar(&o.ControlListen, "control-listen", o.ControlListen, "address of the HTTP fault-injection API (/fail, /latency, /down, /up, /attempts, /stats)")
	o.Elasticsearch.AddFlags(fs)
	b := &o.ElasticsearchBuffer
	fs.IntVar(&b.Capacity, "elasticsearch-buffer-size", b.Capacity, "events buffered for the store; a delivery that does not fit is answered 503 so the API server retries it")
	fs.IntVar(&b.BatchSize, "elasticsearch-batch-size", b.BatchSize, "most events in one bulk request")
	fs.DurationVar(&b.FlushInterval, "elasticsearch-flush-interval", b.FlushInterval, "longest wait before a partial batch is sent")
	fs.DurationVar(&b.MaxRetryDuration, "elasticsearch-max-retry-duration", b.MaxRetryDuration, "how long a batch is retried before its events are dropped (and counted)")
	fs.DurationVar(&o.ElasticsearchShutdown, "elasticsearch-shutdown-timeout", o.ElasticsearchShutdown, "on SIGTERM, how long to keep sending what is buffered")
}

// Validate names the flag at fault.
func (o *CommandOptions) Validate() error {
	switch {
	case (o.CertFile == "") != (o.KeyFile == ""):
		return errors.New("--tls-cert-file and --tls-private-key-file must be given together")
	case o.ClientCAFile != "" && o.CertFile == "":
		return errors.New("--client-ca-file needs --tls-cert-file")
	case o.PerUser && o.OutputDir == "":
		return errors.New("--per-user needs --output-dir")
	case o.FailStatus < 400 || o.FailStatus > 599:
		return fmt.Errorf("--fail-status %d: want an HTTP error status (400-599)", o.FailStatus)
	case o.PolicyFile != "" && o.ConsoleAddr == "":
		return errors.New("--policy needs --console-address")
	}
	if b := o.ElasticsearchBuffer; o.Elasticsearch.URL != "" && (b.Capacity <= 0 || b.BatchSize <= 0 || b.FlushInterval <= 0 || b.MaxRetryDuration <= 0) {
		return errors.New("--elasticsearch-buffer-size, -batch-size, -flush-interval and -max-retry-duration must be positive")
	}
	return nil
}

// Run receives until ctx is done, then delivers what the search store's
// buffer holds (within --elasticsearch-shutdown-timeout). stderr gets the
// lines that say where things are.
func (o *CommandOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	opts := Options{Addr: o.Listen, DiscardInMemory: true}
	// The store's buffer first: a delivery it refuses is written nowhere
	// else, and its retry is not written twice.
	var consumers []consumer.Consumer
	if o.Elasticsearch.URL != "" {
		client, err := o.Elasticsearch.NewClient()
		if err != nil {
			return err
		}
		buf := esbulk.NewBuffer(client, o.ElasticsearchBuffer)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), o.ElasticsearchShutdown)
			defer cancel()
			buf.Close(ctx)
		}()
		consumers = append(consumers, buf)
		opts.Metrics = []prometheus.Collector{buf}
		fmt.Fprintf(stderr, "audit-sink: forwarding to %s (index %s)\n", o.Elasticsearch.URL, o.Elasticsearch.Index)
	}
	if o.OutputDir != "" {
		files, err := consumer.NewFiles(o.OutputDir, o.PerUser)
		if err != nil {
			return err
		}
		defer files.Close()
		consumers = append(consumers, files)
	}
	if o.Stdout || (o.OutputDir == "" && o.Elasticsearch.URL == "" && o.ConsoleAddr == "") {
		consumers = append(consumers, consumer.NewLines(stdout))
	}
	if o.ConsoleAddr != "" {
		store, c, err := o.startConsole()
		if err != nil {
			return err
		}
		defer c.Close()
		consumers = append(consumers, store)
		fmt.Fprintf(stderr, "audit-sink: console at %s\n", c.URL())
		if c.Insecure() {
			fmt.Fprintln(stderr, "audit-sink: "+console.InsecureWarning(c.URL()))
		}
	}
	opts.Consumer = consumer.Union(consumers...)
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return fmt.Errorf("--tls-cert-file/--tls-private-key-file: %w", err)
		}
		var pool *x509.CertPool
		if o.ClientCAFile != "" {
			if pool, err = certutil.NewPool(o.ClientCAFile); err != nil {
				return fmt.Errorf("--client-ca-file: %w", err)
			}
		}
		opts.TLS = ClientCATLS(cert, pool)
	}
	s, err := Start(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	s.FailNext(o.FailFirst, o.FailStatus)
	s.SetLatency(o.Latency)
	fmt.Fprintf(stderr, "audit-sink: receiving on %s\n", s.URL())
	if o.ControlListen != "" {
		l, err := net.Listen("tcp", o.ControlListen)
		if err != nil {
			return fmt.Errorf("--control-listen: %w", err)
		}
		srv := &http.Server{Handler: s.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		fmt.Fprintf(stderr, "audit-sink: control API on http://%s\n", l.Addr())
	}
	<-ctx.Done()
	return nil
}

// startConsole serves the live console for what the sink receives.
func (o *CommandOptions) startConsole() (*console.Store, *console.Console, error) {
	var policy *policytool.Policy
	if o.PolicyFile != "" {
		var err error
		if policy, err = policytool.Load(o.PolicyFile); err != nil {
			return nil, nil, fmt.Errorf("--policy: %w", err)
		}
	}
	store := console.NewStore(0)
	opts := console.Options{Addr: o.ConsoleAddr, Policy: policy, Source: "webhook deliveries to audit-sink on " + o.Listen}
	o.ConsoleSecurity.ApplyTo(&opts)
	c, err := console.Start(store, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("--console-address: %w", err)
	}
	return store, c, nil
}
