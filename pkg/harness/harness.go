// Package harness is the one way to start a real mini-apiserver for tests
// and benchmarks, in the manner of controller-runtime's envtest: one
// exported environment type, Start and Stop, and two backends behind it:
// the server inside the test process (the default) or the built binary as a
// child process (Options.Binary). Each server has its own data directory,
// port, embedded etcd and audit outputs, so parallel tests share no data.
// In process, a server on a data directory of the harness's starts on a
// copy of one bootstrapped at the process's first Start (system namespaces,
// kube's RBAC, each namespace's default ServiceAccount and kube-root-ca.crt
// are there when Start returns, and no bootstrap write is in its audit log);
// the servers of one process share that copy's CA and keys, as with
// CredentialsFrom. Its embedded etcd is disposable: no fsync.
//
//	srv, err := harness.Start(ctx, harness.Options{
//		Policy:  "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
//		Webhook: true,
//		Flags:   []string{"--audit-webhook-mode=blocking"},
//	})
//	if err != nil { ... }
//	defer srv.Stop()
//	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
//	...
//	events, err := srv.AuditEvents()   // from the log backend
//	webhookEvents := srv.Sink().Events()
//
// The package also starts what a server talks to: a real etcd (StartEtcd),
// an audit sink with its webhook kubeconfig (StartTLSSink,
// WriteWebhookKubeconfig), and reads /metrics (Server.Metrics).
package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/pflag"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/server"
)

// watchTerminationGrace is how long Stop lets open watches drain.
const watchTerminationGrace = time.Second

// Options configure a harness server.
type Options struct {
	// Policy is an audit policy (audit.k8s.io/v1 Policy YAML). When set, the
	// log backend writes JSON lines to AuditLog() unless Flags set
	// --audit-log-path themselves.
	Policy string
	// Webhook starts an HTTPS audit sink (see Sink) and points
	// --audit-webhook-config-file at it.
	Webhook bool
	// DynamicAudit turns the dynamic audit backend on (its three switches)
	// with a batch wait of DynamicAuditBatchWait; create sinks with
	// Server.AuditSinks and NewAuditSink.
	DynamicAudit bool
	// Flags are further mini-apiserver flags, as on its command line.
	Flags []string
	// DataDir is the server's data directory (or --data-dir in Flags); by
	// default a new temporary directory that Stop removes, in process a
	// copy of the process's bootstrapped one (see the package comment). A
	// DataDir given here is started on as it is, a new one bootstrapped by
	// its own start, its etcd fsyncing.
	DataDir string
	// ReadyTimeout bounds Start; default 90s.
	ReadyTimeout time.Duration
	// CredentialsFrom is another server's data directory whose
	// certificates and keys (its pki/) this server's data directory takes
	// before its first start, as kubeadm copies them to a control-plane node
	// that joins: one CA, one admin credential, one set of service-account
	// keys, so a client or a token of one server works on the other. Give
	// both the same --etcd-servers.
	CredentialsFrom string

	// Binary, when set, is a mini-apiserver executable run as a child
	// process instead of the server in this process.
	Binary string
	// Env is added to the child process's environment (Binary only).
	Env []string
	// WrapHandler wraps the API handler inside the handler chain, after
	// audit, authentication and authorization (in-process only).
	WrapHandler func(http.Handler) http.Handler
	// Webhooks, when set, are admission webhook configurations installed
	// before Start returns, pointed at the test's own webhook server; Start
	// fills in where it listens and its certificate (see
	// WebhookInstallOptions).
	Webhooks *WebhookInstallOptions
	// CRDs, when set, are CustomResourceDefinitions installed before Start
	// returns, each Established and in discovery (see CRDInstallOptions).
	CRDs *CRDInstallOptions
}

// instance is one run of a server: in this process or a child process.
type instance interface {
	// stop shuts the server down gracefully and returns how it ended.
	stop() error
	// done is closed when the server has stopped by itself or by stop.
	done() <-chan struct{}
	// err is how it ended, once done.
	err() error
}

// Server is a running mini-apiserver.
type Server struct {
	opts Options
	// flags are the binary's command line; options the in-process server's,
	// parsed once from Options.Flags and completed.
	flags   []string
	options server.CompletedOptions
	// fixedPort is --secure-port when Flags give it; 0 lets the harness choose.
	fixedPort  int
	dataDir    string
	ownDataDir bool
	auditLog   string
	sink       *sink.Sink

	kubeconfig string
	port       int
	run        instance
	proc       *process // the child process, with Options.Binary

	stopOnce sync.Once
	stopErr  error
}

// Start starts a server and returns once /readyz answers 200.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	binary := opts.Binary != ""
	if binary && opts.WrapHandler != nil {
		return nil, errors.New("harness: WrapHandler needs the in-process server")
	}
	flags := opts.Flags
	if opts.DynamicAudit && binary {
		flags = append(dynamicAuditFlags(), flags...)
	}
	parsed, fs, err := parseFlags(flags, binary, opts.DynamicAudit && !binary)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, dataDir: opts.DataDir}
	if fs.Changed("secure-port") {
		s.fixedPort = parsed.SecureServing.BindPort
	}
	if s.dataDir == "" {
		s.dataDir = parsed.DataDir
	}
	if s.dataDir == "" {
		if s.dataDir, err = os.MkdirTemp("", "mini-apiserver-harness-"); err != nil {
			return nil, err
		}
		s.ownDataDir = true
		if !binary && opts.CredentialsFrom == "" && !fs.Changed("etcd-servers") {
			if err := copyTemplate(ctx, templateFlags(fs), s.dataDir); err != nil {
				_ = os.RemoveAll(s.dataDir)
				return nil, err
			}
		}
	}
	defer func() {
		if err != nil {
			s.cleanup()
		}
	}()
	// What the harness sets, as the flags the binary takes; in-process the
	// same fields of the parsed options.
	set := func(flag string, field *string, value string) {
		s.flags = append(s.flags, "--"+flag+"="+value)
		*field = value
	}
	set("data-dir", &parsed.DataDir, s.dataDir)
	if opts.CredentialsFrom != "" {
		if err := copyCredentials(opts.CredentialsFrom, s.dataDir); err != nil {
			return nil, err
		}
	}
	// kube's default is not to end watches at shutdown: a watch still open
	// (a test's informer, its controller's manager) would hold Stop for
	// --request-timeout, a minute. A test's server ends them within
	// watchTerminationGrace unless the flags say otherwise.
	if !fs.Changed("shutdown-watch-termination-grace-period") {
		s.flags = append(s.flags, "--shutdown-watch-termination-grace-period="+watchTerminationGrace.String())
		parsed.GenericServerRun.ShutdownWatchTerminationGracePeriod = watchTerminationGrace
	}
	s.flags = append(s.flags, flags...)
	s.auditLog = parsed.Audit.LogOptions.Path
	if opts.Policy != "" {
		// The server makes its data directory 0700; the policy comes first.
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, err
		}
		policy := filepath.Join(s.dataDir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(opts.Policy), 0o600); err != nil {
			return nil, err
		}
		set("audit-policy-file", &parsed.Audit.PolicyFile, policy)
		if s.auditLog == "" {
			s.auditLog = filepath.Join(s.dataDir, "audit", "audit.log")
			set("audit-log-path", &parsed.Audit.LogOptions.Path, s.auditLog)
		}
	}
	if s.auditLog == "-" {
		s.auditLog = ""
	}
	if opts.Webhook {
		var cfgPath string
		if s.sink, cfgPath, err = StartTLSSink(s.dataDir, false); err != nil {
			return nil, err
		}
		set("audit-webhook-config-file", &parsed.Audit.WebhookOptions.ConfigFile, cfgPath)
	}
	if !binary {
		if s.options, err = completeInProcess(parsed); err != nil {
			return nil, err
		}
	}
	if opts.Webhooks != nil {
		if err := opts.Webhooks.prepare(s.dataDir); err != nil {
			return nil, err
		}
	}
	if opts.CRDs != nil {
		if err := opts.CRDs.prepare(opts.Webhooks); err != nil {
			return nil, err
		}
	}
	if err := s.launch(ctx); err != nil {
		return nil, err
	}
	if opts.CRDs != nil {
		if err := opts.CRDs.install(ctx, s.RESTConfig()); err != nil {
			_ = s.run.stop()
			return nil, err
		}
	}
	if opts.Webhooks != nil {
		if err := opts.Webhooks.install(ctx, s.RESTConfig()); err != nil {
			_ = s.run.stop()
			return nil, err
		}
	}
	return s, nil
}

// parseFlags reads flags with the server's own flag set, so the harness
// knows --data-dir, --audit-log-path and --secure-port as the server will.
// The binary also takes its global flags (--feature-gates, -v, ...): those
// are left to it. dynamicAudit turns the dynamic backend on in the options
// before the flags are read, as the binary's flags come first.
func parseFlags(flags []string, binary, dynamicAudit bool) (*server.Options, *pflag.FlagSet, error) {
	o := server.NewOptions()
	if dynamicAudit {
		if err := enableDynamicAudit(o); err != nil {
			return nil, nil, err
		}
	}
	fs := pflag.NewFlagSet("mini-apiserver", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = binary
	for _, f := range o.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(flags); err != nil {
		return nil, nil, fmt.Errorf("harness flags: %w", err)
	}
	return o, fs, nil
}

// launch starts one run of the server on the data directory and waits for
// it to be ready.
func (s *Server) launch(ctx context.Context) error {
	if s.opts.Binary != "" {
		return s.launchProcess(ctx)
	}
	return s.launchInProcess(ctx)
}

// Restart stops the server gracefully and starts it again with the same
// flags on the same data directory (and sink); a port the harness chose may
// change. A server that has already ended (a signal, a crash) is started
// again.
func (s *Server) Restart(ctx context.Context) error {
	select {
	case <-s.run.done():
	default:
		if err := s.run.stop(); err != nil {
			return fmt.Errorf("harness: stop before restart: %w", err)
		}
	}
	return s.launch(ctx)
}

// RESTConfig is an admin (system:masters) client configuration. Its rate
// limit is high: tests measure the server, not client-go's default 5 QPS.
func (s *Server) RESTConfig() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		panic(fmt.Sprintf("harness: admin kubeconfig %s: %v", s.kubeconfig, err))
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	return cfg
}

// Kubeconfig is the path of the admin kubeconfig.
func (s *Server) Kubeconfig() string { return s.kubeconfig }

// URL is the server's https:// address.
func (s *Server) URL() string { return s.RESTConfig().Host }

// Port is the server's secure port.
func (s *Server) Port() int { return s.port }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// AuditLog is the path of the audit log ("" when there is none or it is
// stdout).
func (s *Server) AuditLog() string { return s.auditLog }

// AuditEvents reads the audit log written so far.
func (s *Server) AuditEvents() ([]auditv1.Event, error) {
	if s.auditLog == "" {
		return nil, errors.New("harness: no audit log (set Options.Policy)")
	}
	return expect.ReadFile(s.auditLog)
}

// Sink is the audit webhook receiver (nil unless Options.Webhook).
func (s *Server) Sink() *sink.Sink { return s.sink }

// Done is closed when the server has stopped, by itself or by Stop.
func (s *Server) Done() <-chan struct{} { return s.run.done() }

// Err is how the server ended, once Done is closed.
func (s *Server) Err() error { return s.run.err() }

// Stop shuts the server down gracefully (draining audit backends), stops
// the sink and removes a data directory the harness created. It returns how
// the server ended; calling it again returns the same.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.run.stop()
		s.cleanup()
	})
	return s.stopErr
}

func (s *Server) cleanup() {
	if s.sink != nil {
		_ = s.sink.Close()
	}
	if s.ownDataDir {
		_ = os.RemoveAll(s.dataDir)
	}
}
