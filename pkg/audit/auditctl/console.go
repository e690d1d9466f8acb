package auditctl

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/console"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

func consoleCommand() *cobra.Command {
	var logs []string
	var policyPath, addr string
	var capacity int
	var security console.SecurityFlags
	cmd := &cobra.Command{
		Use:   "console --log PATH [--log PATH ...] [--policy FILE] [--address 127.0.0.1:8077] [--auth token|none] [--tls-cert-file F --tls-private-key-file K]",
		Short: "Serve a live audit console in the browser for an audit log (newest first, then following it)",
		Long: `Reads the audit log newest first (its end, then back through it and its rotated files and .gz backups, the
past filling in behind the rows shown, as far as --max-requests keeps), follows what is written next across
rotations, and serves a web page on --address: one row per request, live, with filters in the URL, counts, and
each request's events, annotations, objects, what the server changed, and (with --policy) the rule that decided
its level.

--log given once per server of a control plane reads each server's log: the rows in time order whichever log
they come from, every row naming its log.

The audit trail holds who did what: the console asks for a token made at each start, printed once in the URL to
open (http://127.0.0.1:8077/?token=...), which the browser trades for a cookie. --auth=none serves anyone who
reaches it; beyond loopback the console needs a token and TLS (--tls-cert-file, --tls-private-key-file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(logs) == 0 {
				return badInput("console: --log is required")
			}
			for _, l := range logs {
				if _, err := os.Stat(l); err != nil {
					return badInput("console: %v (the server writes it with --audit-log-path)", err)
				}
			}
			var policy *policytool.Policy
			if policyPath != "" {
				var err error
				if policy, err = loadPolicy(policyPath); err != nil {
					return err
				}
			}
			store := console.NewStore(capacity)
			source := "log " + logs[0]
			if len(logs) > 1 {
				source = "logs " + strings.Join(logs, ", ")
			}
			opts := console.Options{Addr: addr, Policy: policy, Source: source}
			security.ApplyTo(&opts)
			c, err := console.Start(store, opts)
			if err != nil {
				return badInput("%v", err)
			}
			defer c.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "auditctl: console for %s at %s\n", strings.Join(logs, ", "), c.URL())
			if c.Insecure() {
				fmt.Fprintln(cmd.ErrOrStderr(), "auditctl: "+console.InsecureWarning(c.URL()))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return console.FollowLogs(ctx, store, logs, 200*time.Millisecond)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&logs, "log", nil, "the audit log (--audit-log-path of the server); repeat it for the logs of several servers")
	f.StringVar(&policyPath, "policy", "", "the server's audit policy: each request shows the rule that decided its level")
	f.StringVar(&addr, "address", "127.0.0.1:8077", "where to serve the console (host:port; loopback unless you mean it)")
	f.IntVar(&capacity, "max-requests", console.DefaultCapacity, "requests kept in memory (about 2-3 KiB each): the oldest are forgotten beyond it (and counted), older logs not read")
	security.AddFlags(f, "")
	return cmd
}
