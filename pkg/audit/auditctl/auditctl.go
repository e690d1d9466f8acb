// Package auditctl is the auditctl command: explain, lint, view, verify,
// ship, console.
package auditctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"

	"github.com/spf13/cobra"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFindings = 1 // lint warnings, verify problems
	ExitError    = 2 // bad input, invalid policy
)

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func badInput(format string, args ...interface{}) error {
	return &exitError{ExitError, fmt.Errorf(format, args...)}
}

// Run executes auditctl with args and returns the exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "auditctl",
		Short:         "Explain and lint Kubernetes audit policies; view, verify and ship audit logs",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(explainCommand(), lintCommand(), viewCommand(), verifyCommand(), shipCommand(), consoleCommand())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return badInput("%v", err) })
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err.Error() != "" {
			fmt.Fprintf(stderr, "auditctl: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "auditctl: %v\n", err)
	return ExitError
}

func loadPolicy(path string) (*policytool.Policy, error) {
	if path == "" {
		return nil, badInput("--policy is required")
	}
	p, err := policytool.Load(path)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return p, nil
}

func explainCommand() *cobra.Command {
	var policyPath, sinkPath string
	var r policytool.Request
	cmd := &cobra.Command{
		Use:   "explain (--policy P --user U [--group G ...] --verb V (--resource R [--subresource S] [--namespace N] [--name X] [--api-group G] | --path /url) | --sink S)",
		Short: "Show which rule of a policy decides a request, its level and omitted stages; what an AuditSink gets",
		Long: `With --policy, shows the rule of the audit policy that decides the request, its level, the stages
omitted and whether managedFields are kept. With --sink (an AuditSink manifest), shows what that dynamic
sink gets: its level and stages for every request (defaulted and validated as the server would), with
managedFields as --policy decides for the request when both are given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyPath == "" && sinkPath == "" {
				return badInput("explain: give --policy, --sink or both")
			}
			out := cmd.OutOrStdout()
			omitManagedFields := false
			if policyPath != "" {
				e, err := explainPolicy(out, policyPath, r)
				if err != nil {
					return err
				}
				omitManagedFields = e.OmitManagedFields
			}
			if sinkPath == "" {
				return nil
			}
			sink, err := policytool.LoadSink(sinkPath)
			if err != nil {
				return badInput("%v", err)
			}
			if policyPath != "" {
				fmt.Fprintln(out)
			}
			explainSink(out, sinkPath, sink, policyPath != "", omitManagedFields)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyPath, "policy", "", "audit policy file")
	f.StringVar(&sinkPath, "sink", "", "an AuditSink manifest (auditregistration.k8s.io/v1alpha1): what that dynamic sink gets")
	f.StringVar(&r.User, "user", "", "user name")
	f.StringArrayVar(&r.Groups, "group", nil, "a group of the user (repeatable); system:authenticated is implied")
	f.StringVar(&r.Verb, "verb", "", "request verb: get, list, watch, create, update, patch, delete, deletecollection, ...")
	f.StringVar(&r.APIGroup, "api-group", "", "API group of the resource (empty: core)")
	f.StringVar(&r.Resource, "resource", "", "resource, e.g. pods")
	f.StringVar(&r.Subresource, "subresource", "", "subresource, e.g. status")
	f.StringVar(&r.Namespace, "namespace", "", "namespace of the resource")
	f.StringVar(&r.Name, "name", "", "name of the object")
	f.StringVar(&r.Path, "path", "", "a non-resource URL, e.g. /healthz")
	return cmd
}

// explainPolicy prints which rule of the policy at path decides r.
func explainPolicy(out io.Writer, path string, r policytool.Request) (policytool.Explanation, error) {
	if r.User == "" || r.Verb == "" {
		return policytool.Explanation{}, badInput("explain: --user and --verb are required")
	}
	if (r.Resource == "") == (r.Path == "") {
		return policytool.Explanation{}, badInput("explain: give exactly one of --resource and --path")
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return policytool.Explanation{}, badInput("explain: --path must start with /")
	}
	p, err := loadPolicy(path)
	if err != nil {
		return policytool.Explanation{}, err
	}
	e := p.Explain(r)
	if e.Rule < 0 {
		fmt.Fprintf(out, "rule:           none matches\n")
	} else {
		fmt.Fprintf(out, "rule:           rules[%d] (%s line %d)\n", e.Rule, p.Path, p.RuleLines[e.Rule])
		for _, l := range strings.Split(p.RuleTexts[e.Rule], "\n") {
			fmt.Fprintf(out, "                %s\n", l)
		}
	}
	fmt.Fprintf(out, "level:          %s\n", e.Level)
	omitted := "none"
	if len(e.OmitStages) > 0 {
		var s []string
		for _, st := range e.OmitStages {
			s = append(s, string(st))
		}
		omitted = strings.Join(s, ", ")
	}
	fmt.Fprintf(out, "omitted stages: %s\n", omitted)
	if e.Level.GreaterOrEqual(auditinternal.LevelRequest) {
		fmt.Fprintf(out, "managedFields:  %s\n", map[bool]string{true: "omitted", false: "kept"}[e.OmitManagedFields])
	}
	return e, nil
}

// explainSink prints what an AuditSink gets: the same for every request
// (a sink's policy selects no requests), at its level and stages; the
// bodies leave managedFields out when the static policy does.
func explainSink(out io.Writer, path string, sink *auditreg.AuditSink, withPolicy, omitManagedFields bool) {
	p := sink.Spec.Policy
	fmt.Fprintf(out, "sink:           %s (%s)\n", sink.Name, path)
	if p.Level == auditreg.LevelNone {
		fmt.Fprintf(out, "level:          None: the sink gets no events\n")
		return
	}
	fmt.Fprintf(out, "level:          %s, for every request\n", p.Level)
	var stages []string
	for _, st := range p.Stages {
		stages = append(stages, string(st))
	}
	fmt.Fprintf(out, "stages:         %s\n", strings.Join(stages, ", "))
	if p.Level != auditreg.LevelMetadata {
		how := "kept"
		switch {
		case !withPolicy:
			how = "kept (unless the server's --audit-policy-file omits them for the request; give --policy to see)"
		case omitManagedFields:
			how = "omitted (as --policy says for this request)"
		}
		fmt.Fprintf(out, "managedFields:  %s\n", how)
	}
	t := sink.Spec.Webhook.Throttle
	fmt.Fprintf(out, "throttle:       %d batches a second, burst %d\n", *t.QPS, *t.Burst)
	cc := sink.Spec.Webhook.ClientConfig
	if cc.URL != nil {
		fmt.Fprintf(out, "target:         %s\n", *cc.URL)
	} else {
		fmt.Fprintf(out, "target:         %s (service: the name must resolve from the server's host)\n", auditreg.ServiceURL(cc.Service))
	}
}

func lintCommand() *cobra.Command {
	var policyPath, mode string
	cmd := &cobra.Command{
		Use:   "lint FILE... | --policy P [--mode blocking-strict]",
		Short: "Report policy errors and the warnings a careful reviewer would give (exit 1: warnings, 2: errors)",
		RunE: func(cmd *cobra.Command, files []string) error {
			if policyPath != "" {
				files = append(files, policyPath)
			}
			if len(files) == 0 {
				return badInput("--policy is required")
			}
			if !slices.Contains([]string{"", "batch", "blocking", "blocking-strict"}, mode) {
				return badInput("lint: --mode %q: want batch, blocking or blocking-strict", mode)
			}
			code := ExitOK
			for _, file := range files {
				findings, err := policytool.Lint(file, policytool.LintOptions{BlockingStrict: mode == "blocking-strict"})
				if err != nil {
					return badInput("%v", err)
				}
				for _, f := range findings {
					fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: %s\n", file, f.Line, f)
					if f.Severity == policytool.Error {
						code = ExitError
					} else if code == ExitOK {
						code = ExitFindings
					}
				}
				if len(findings) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: no problems found\n", file)
				}
			}
			if code == ExitOK {
				return nil
			}
			return &exitError{code, errors.New("")}
		},
	}
	cmd.Flags().StringVar(&policyPath, "policy", "", "audit policy file (or give it as an argument, as to any linter)")
	cmd.Flags().StringVar(&mode, "mode", "", "the backend mode the policy serves (blocking-strict adds checks)")
	return cmd
}

func viewCommand() *cobra.Command {
	var f logview.Filter
	var follow, group bool
	var logs []string
	cmd := &cobra.Command{
		Use:   "view [FILES|-|--log LOG ...] [--user U] [--verb V] [--resource R] [--namespace N] [--level L] [--stage S] [--code C] [--follow]",
		Short: "Print audit events one line each, in time order, from logs, rotated backups and .gz copies",
		Long: "Print audit events one line each, in time order, from logs, rotated backups and .gz copies.\n\n" +
			"--log LOG, given once per server of a control plane, reads that log with its rotated files beside it;\n" +
			"with more than one, the logs are merged in time order and each line starts with the log it came from.",
		RunE: func(cmd *cobra.Command, files []string) error {
			// The log each file belongs to, named on each line when there
			// are several.
			logOf := map[string]string{}
			if len(logs) > 0 {
				if len(files) > 0 {
					return badInput("view: give FILES or --log, not both")
				}
				for _, l := range logs {
					set, err := logview.LogSet(l)
					if err != nil {
						return badInput("view: --log %s: %v", l, err)
					}
					for _, f := range set {
						logOf[f] = l
					}
					files = append(files, set...)
				}
			}
			if len(files) == 0 {
				files = []string{"-"}
			}
			if f.Level != "" && !slices.Contains(logview.Levels, f.Level) {
				return badInput("view: unknown level %q (want one of %s)", f.Level, strings.Join(logview.Levels, ", "))
			}
			if f.Stage != "" && !slices.Contains(logview.Stages, f.Stage) {
				return badInput("view: unknown stage %q (want one of %s)", f.Stage, strings.Join(logview.Stages, ", "))
			}
			if follow && (len(files) != 1 || files[0] == "-" || len(logs) > 1) {
				return badInput("view: --follow takes exactly one file")
			}
			out := cmd.OutOrStdout()
			print := func(evs []logview.Located) {
				last := ""
				for i := range evs {
					e := &evs[i].Event
					if !f.Match(e) {
						continue
					}
					if group && string(e.AuditID) != last {
						fmt.Fprintf(out, "--- %s %s %s\n", logview.ShortID(string(e.AuditID)), e.Verb, e.RequestURI)
						last = string(e.AuditID)
					}
					if len(logs) > 1 {
						fmt.Fprintf(out, "[%s] ", logOf[evs[i].File])
					}
					fmt.Fprintln(out, logview.Format(e))
				}
			}
			if follow {
				if _, err := os.Stat(files[0]); err != nil {
					return badInput("view: %v", err)
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
				defer stop()
				return logview.Follow(ctx, files[0], 200*time.Millisecond, func(evs []logview.Located, probs []logview.Problem) {
					print(evs)
					for _, p := range probs {
						fmt.Fprintf(cmd.ErrOrStderr(), "auditctl: %s\n", p)
					}
				})
			}
			events, problems, err := logview.ReadFiles(files, cmd.InOrStdin())
			if err != nil {
				return badInput("view: %v", err)
			}
			if group {
				events = groupByID(events)
			}
			print(events)
			for _, p := range problems {
				fmt.Fprintf(cmd.ErrOrStderr(), "auditctl: %s\n", p)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.User, "user", "", "only events of this user (or impersonated user)")
	fl.StringVar(&f.Verb, "verb", "", "only this verb")
	fl.StringVar(&f.Resource, "resource", "", "only this resource (or resource/subresource)")
	fl.StringVar(&f.Namespace, "namespace", "", "only this namespace")
	fl.StringVar(&f.Level, "level", "", "only this level")
	fl.StringVar(&f.Stage, "stage", "", "only this stage")
	fl.Int32Var(&f.Code, "code", 0, "only this response code")
	fl.BoolVar(&follow, "follow", false, "keep reading as the file grows (and across rotation)")
	fl.BoolVar(&group, "group", false, "group the events of each request under a header")
	fl.StringArrayVar(&logs, "log", nil, "an audit log (--audit-log-path) with its rotated files; repeat it for the logs of several servers")
	return cmd
}

// groupByID keeps time order of first appearance but puts each request's
// events together.
func groupByID(events []logview.Located) []logview.Located {
	index := map[string]int{}
	var groups [][]logview.Located
	for _, e := range events {
		i, ok := index[string(e.AuditID)]
		if !ok {
			i = len(groups)
			index[string(e.AuditID)] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], e)
	}
	var out []logview.Located
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func verifyCommand() *cobra.Command {
	var policyPath string
	cmd := &cobra.Command{
		Use:   "verify FILES [--policy P]",
		Short: "Check audit logs: every line parses, every request has its final event, watches their ResponseStarted",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var omitted []auditv1.Stage
			if policyPath != "" {
				p, err := loadPolicy(policyPath)
				if err != nil {
					return err
				}
				for _, s := range p.Policy.OmitStages {
					omitted = append(omitted, auditv1.Stage(s))
				}
			}
			events, problems, err := logview.ReadFiles(files, cmd.InOrStdin())
			if err != nil {
				return badInput("verify: %v", err)
			}
			report := logview.Verify(events, problems, omitted)
			out := cmd.OutOrStdout()
			for _, p := range report.Problems {
				fmt.Fprintln(out, p)
			}
			if report.OK() {
				fmt.Fprintf(out, "%d events in %d files: ok\n", report.Events, len(files))
				return nil
			}
			fmt.Fprintf(out, "%d events in %d files: %d problems\n", report.Events, len(files), len(report.Problems))
			return &exitError{ExitFindings, errors.New("")}
		},
	}
	cmd.Flags().StringVar(&policyPath, "policy", "", "the policy that wrote the logs (stages it omits are not required)")
	return cmd
}
