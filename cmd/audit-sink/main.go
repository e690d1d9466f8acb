// Command audit-sink receives Kubernetes audit webhook deliveries and writes
// the events as JSON lines, optionally one file per user.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	flag "github.com/spf13/pflag"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
)

func main() {
	o := sink.NewCommandOptions()
	fs := flag.NewFlagSet("audit-sink", flag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse(os.Args[1:])
	if err == nil {
		err = o.Validate()
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = o.Run(ctx, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "audit-sink: %v\n", err)
		os.Exit(1)
	}
}
