// Command audit-sink receives Kubernetes audit webhook deliveries and writes
// the events as JSON lines, optionally one file per user.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "audit-sink: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit-sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9443", "address to receive audit events on")
	certFile := fs.String("tls-cert-file", "", "serve HTTPS with this certificate (PEM); HTTP without it")
	keyFile := fs.String("tls-private-key-file", "", "private key of --tls-cert-file")
	clientCA := fs.String("client-ca-file", "", "require client certificates signed by this CA (needs HTTPS)")
	outputDir := fs.String("output-dir", "", "append events as JSON lines to DIR/events.log (or DIR/<user>.log with --per-user)")
	perUser := fs.Bool("per-user", false, "with --output-dir, one file per user")
	toStdout := fs.Bool("stdout", false, "also write every event as a JSON line to standard output (the default without --output-dir)")
	failFirst := fs.Int("fail-first", 0, "fail the first N deliveries (fault injection)")
	failStatus := fs.Int("fail-status", http.StatusServiceUnavailable, "HTTP status of injected failures")
	latency := fs.Duration("latency", 0, "delay every response by this long")
	consoleAddr := fs.String("console-address", "", "serve the live audit console for the events received on this address (e.g. 127.0.0.1:8077)")
	policyPath := fs.String("policy", "", "with --console-address: the API server's audit policy, to show the rule that decided each request's level")
	control := fs.String("control-listen", "", "address of the HTTP fault-injection API (/fail, /latency, /down, /up, /attempts, /stats)")
	var es esFlags
	es.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file must be given together")
	}
	if *clientCA != "" && *certFile == "" {
		return errors.New("--client-ca-file needs --tls-cert-file")
	}
	if *perUser && *outputDir == "" {
		return errors.New("--per-user needs --output-dir")
	}
	if *failStatus < 400 || *failStatus > 599 {
		return fmt.Errorf("--fail-status %d: want an HTTP error status (400-599)", *failStatus)
	}

	if *policyPath != "" && *consoleAddr == "" {
		return errors.New("--policy needs --console-address")
	}
	opts := sink.Options{Addr: *listen, OutputDir: *outputDir, PerUser: *perUser, DiscardInMemory: true}
	if *toStdout || (*outputDir == "" && es.URL == "" && *consoleAddr == "") {
		opts.Writer = stdout
	}
	if *consoleAddr != "" {
		c, err := startConsole(&opts, *consoleAddr, *policyPath, *listen)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(stderr, "audit-sink: console at %s\n", c.URL())
	}
	if es.URL != "" {
		buf, err := es.buffer()
		if err != nil {
			return err
		}
		opts.Forward = buf
		defer func() {
			// Deliver what is buffered before exiting, within a bound.
			ctx, cancel := context.WithTimeout(context.Background(), es.shutdownTimeout)
			defer cancel()
			buf.Close(ctx)
		}()
		fmt.Fprintf(stderr, "audit-sink: forwarding to %s (index %s)\n", es.URL, es.Index)
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("--tls-cert-file/--tls-private-key-file: %w", err)
		}
		var pool *x509.CertPool
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			if err != nil {
				return fmt.Errorf("--client-ca-file: %w", err)
			}
			pool = x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--client-ca-file %s: no PEM certificates", *clientCA)
			}
		}
		opts.TLS = sink.ClientCATLS(cert, pool)
	}
	s, err := sink.Start(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	s.FailNext(*failFirst, *failStatus)
	s.SetLatency(*latency)
	fmt.Fprintf(stderr, "audit-sink: receiving on %s\n", s.URL())

	if *control != "" {
		l, err := net.Listen("tcp", *control)
		if err != nil {
			return fmt.Errorf("--control-listen: %w", err)
		}
		srv := &http.Server{Handler: s.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		fmt.Fprintf(stderr, "audit-sink: control API on http://%s\n", l.Addr())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
