package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
)

// esFlags are the flags of forwarding to a search store.
type esFlags struct {
	url, index               string
	username, password       string
	passwordFile, apiKeyFile string
	caFile                   string
	opts                     esbulk.BufferOptions
	shutdownTimeout          time.Duration
}

func (f *esFlags) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "elasticsearch-url", "", "forward every event to this Elasticsearch bulk API base (BASE/_bulk), e.g. https://es:9200 or http://127.0.0.1:9428/insert/elasticsearch?_time_field=@timestamp for VictoriaLogs")
	fs.StringVar(&f.index, "elasticsearch-index", esbulk.DefaultIndex, "index the events go to")
	fs.StringVar(&f.username, "elasticsearch-username", "", "basic auth user name")
	fs.StringVar(&f.password, "elasticsearch-password", "", "basic auth password (prefer --elasticsearch-password-file: a flag shows in the process list)")
	fs.StringVar(&f.passwordFile, "elasticsearch-password-file", "", "file holding the basic auth password")
	fs.StringVar(&f.apiKeyFile, "elasticsearch-api-key-file", "", "file holding an API key (Authorization: ApiKey)")
	fs.StringVar(&f.caFile, "elasticsearch-ca-file", "", "CA bundle (PEM) the store's certificate must chain to")
	fs.IntVar(&f.opts.Capacity, "elasticsearch-buffer-size", 10000, "events buffered for the store; a delivery that does not fit is answered 503 so the API server retries it")
	fs.IntVar(&f.opts.BatchSize, "elasticsearch-batch-size", 500, "most events in one bulk request")
	fs.DurationVar(&f.opts.FlushInterval, "elasticsearch-flush-interval", time.Second, "longest wait before a partial batch is sent")
	fs.DurationVar(&f.opts.MaxRetryDuration, "elasticsearch-max-retry-duration", 5*time.Minute, "how long a batch is retried before its events are dropped (and counted)")
	fs.DurationVar(&f.shutdownTimeout, "elasticsearch-shutdown-timeout", 30*time.Second, "on SIGTERM, how long to keep sending what is buffered")
}

// buffer checks the flags and starts forwarding.
func (f *esFlags) buffer() (*esbulk.Buffer, error) {
	if f.opts.Capacity <= 0 || f.opts.BatchSize <= 0 || f.opts.FlushInterval <= 0 || f.opts.MaxRetryDuration <= 0 {
		return nil, errors.New("--elasticsearch-buffer-size, -batch-size, -flush-interval and -max-retry-duration must be positive")
	}
	if f.password != "" && f.passwordFile != "" {
		return nil, errors.New("--elasticsearch-password and --elasticsearch-password-file: give one")
	}
	co := esbulk.ClientOptions{URL: f.url, Index: f.index, Username: f.username, Password: f.password}
	if f.passwordFile != "" {
		p, err := readSecret(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--elasticsearch-password-file: %w", err)
		}
		co.Password = p
	}
	if f.apiKeyFile != "" {
		k, err := readSecret(f.apiKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--elasticsearch-api-key-file: %w", err)
		}
		co.APIKey = k
	}
	if co.Password != "" && co.Username == "" {
		return nil, errors.New("--elasticsearch-password needs --elasticsearch-username")
	}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--elasticsearch-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--elasticsearch-ca-file %s: no PEM certificates", f.caFile)
		}
		co.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client, err := esbulk.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("--elasticsearch-url: %w", err)
	}
	return esbulk.NewBuffer(client, f.opts), nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
