package auditctl

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/console"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

func consoleCommand() *cobra.Command {
	var logPath, policyPath, addr string
	var capacity int
	cmd := &cobra.Command{
		Use:   "console --log PATH [--policy FILE] [--address 127.0.0.1:8077]",
		Short: "Serve a live audit console in the browser for an audit log (rotated files, then following it)",
		Long: `Reads the audit log's rotated files (and .gz backups), then follows the log across rotations, and serves
a web page on --address: one row per request, live, with filters in the URL, counts, and each request's events,
annotations, objects, what the server changed, and (with --policy) the rule that decided its level.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if logPath == "" {
				return badInput("console: --log is required")
			}
			if _, err := os.Stat(logPath); err != nil {
				return badInput("console: %v (the server writes it with --audit-log-path)", err)
			}
			var policy *policytool.Policy
			if policyPath != "" {
				var err error
				if policy, err = loadPolicy(policyPath); err != nil {
					return err
				}
			}
			store := console.NewStore(capacity)
			c, err := console.Start(store, console.Options{Addr: addr, Policy: policy, Source: "log " + logPath})
			if err != nil {
				return badInput("%v", err)
			}
			defer c.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "auditctl: console for %s at %s\n", logPath, c.URL())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return console.FollowLog(ctx, store, logPath, 200*time.Millisecond)
		},
	}
	f := cmd.Flags()
	f.StringVar(&logPath, "log", "", "the audit log (--audit-log-path of the server)")
	f.StringVar(&policyPath, "policy", "", "the server's audit policy: each request shows the rule that decided its level")
	f.StringVar(&addr, "address", "127.0.0.1:8077", "where to serve the console (host:port; loopback unless you mean it)")
	f.IntVar(&capacity, "max-requests", console.DefaultCapacity, "requests kept in memory; the oldest are forgotten beyond it (and counted)")
	return cmd
}
