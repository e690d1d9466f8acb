package main

import (
	"errors"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
)

// esFlags are the flags of forwarding to a search store: where and how
// (esbulk.Flags, shared with auditctl ship) and the buffer.
type esFlags struct {
	esbulk.Flags
	opts            esbulk.BufferOptions
	shutdownTimeout time.Duration
}

func (f *esFlags) addFlags(fs *flag.FlagSet) {
	f.Flags.AddFlags(fs)
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
	client, err := f.NewClient()
	if err != nil {
		return nil, err
	}
	return esbulk.NewBuffer(client, f.opts), nil
}
