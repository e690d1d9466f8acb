package auditctl

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/ship"
)

func shipCommand() *cobra.Command {
	var es esbulk.Flags
	var log, positionFile, serverName string
	var once bool
	var batch int
	cmd := &cobra.Command{
		Use:   "ship --log PATH --elasticsearch-url BASE --position-file FILE [--index I] [--server-name NAME] [--once]",
		Short: "Send an audit log (its rotated files, then what is written) to a search store with the Elasticsearch bulk API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if log == "" || positionFile == "" {
				return badInput("ship: --log and --position-file are required")
			}
			client, err := es.NewClient()
			if err != nil {
				return badInput("ship: %v", err)
			}
			if serverName == "" {
				if serverName, err = os.Hostname(); err != nil {
					return badInput("ship: no --server-name and no host name: %v", err)
				}
			}
			s, err := ship.New(ship.Options{Log: log, PositionFile: positionFile, Client: client, BatchSize: batch, ServerName: serverName})
			if err != nil {
				return badInput("ship: %v", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if once {
				err = s.Once(ctx)
			} else {
				err = s.Follow(ctx)
			}
			st := s.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "auditctl ship: %d events shipped, %d rejected by the store, %d lines not events\n", st.Shipped, st.Rejected, st.Unparsed)
			if err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&log, "log", "", "the audit log (--audit-log-path); its rotated files beside it are shipped first")
	fl.StringVar(&positionFile, "position-file", "", "where how far each file was shipped is kept, so a restart resumes")
	fl.BoolVar(&once, "once", false, "ship what is there and exit (a backfill); without it, follow the log")
	fl.IntVar(&batch, "batch-size", 500, "most events in one bulk request")
	fl.StringVar(&serverName, "server-name", "", "the API server that writes the log, added to each document as host.name (default: this machine's host name)")
	es.AddFlags(fl)
	return cmd
}
