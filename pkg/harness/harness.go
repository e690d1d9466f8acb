// Package harness starts a real mini-apiserver inside a Go test process, in
// the manner of controller-runtime's envtest: one exported type, Start and
// Stop, each server with its own data directory, port, embedded etcd and
// audit outputs, so parallel tests do not share anything.
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
package harness

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/wait"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/auth"
	"github.com/mini-apiserver/mini-apiserver/pkg/server"
)

// Options configure a harness server.
type Options struct {
	// Policy is an audit policy (audit.k8s.io/v1 Policy YAML). When set, the
	// log backend writes JSON lines to AuditLog() unless Flags set
	// --audit-log-path themselves.
	Policy string
	// Webhook starts an HTTPS audit sink (see Sink) and points
	// --audit-webhook-config-file at it.
	Webhook bool
	// Flags are further mini-apiserver flags, as on its command line.
	Flags []string
	// DataDir is the server's data directory; by default a new temporary
	// directory that Stop removes.
	DataDir string
	// WrapHandler wraps the API handler inside the handler chain, after
	// audit, authentication and authorization.
	WrapHandler func(http.Handler) http.Handler
	// ReadyTimeout bounds Start; default 60s.
	ReadyTimeout time.Duration
}

// Server is a running in-process mini-apiserver.
type Server struct {
	dataDir    string
	ownDataDir bool
	auditLog   string
	kubeconfig string
	url        string
	sink       *sink.Sink
	cancel     context.CancelFunc
	done       chan struct{}
	runErr     error
}

// Start starts a server and returns once /readyz answers 200.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	s := &Server{dataDir: opts.DataDir, done: make(chan struct{})}
	if s.dataDir == "" {
		if s.dataDir, err = os.MkdirTemp("", "mini-apiserver-harness-"); err != nil {
			return nil, err
		}
		s.ownDataDir = true
	}
	defer func() {
		if err != nil {
			s.cleanup()
		}
	}()
	flags := append([]string{"--data-dir=" + s.dataDir}, opts.Flags...)
	if opts.Policy != "" {
		policy := filepath.Join(s.dataDir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(opts.Policy), 0o600); err != nil {
			return nil, err
		}
		flags = append(flags, "--audit-policy-file="+policy)
		if !hasFlag(opts.Flags, "--audit-log-path") {
			s.auditLog = filepath.Join(s.dataDir, "audit", "audit.log")
			flags = append(flags, "--audit-log-path="+s.auditLog)
		}
	}
	if v, ok := flagValue(opts.Flags, "--audit-log-path"); ok && v != "-" {
		s.auditLog = v
	}
	if opts.Webhook {
		var cfgPath string
		if s.sink, cfgPath, err = StartTLSSink(s.dataDir, false); err != nil {
			return nil, err
		}
		flags = append(flags, "--audit-webhook-config-file="+cfgPath)
	}

	o := server.NewOptions()
	fs := pflag.NewFlagSet("mini-apiserver", pflag.ContinueOnError)
	for _, f := range o.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(flags); err != nil {
		return nil, fmt.Errorf("harness flags: %w", err)
	}
	if err := compatibility.DefaultComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	if !hasFlag(opts.Flags, "--secure-port") {
		// A kernel-chosen port: parallel servers never collide.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		o.SecureServing.Listener = l
	}
	if err := o.Complete(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg, err := o.Config()
	if err != nil {
		return nil, err
	}
	cfg.WrapAPIHandler = opts.WrapHandler
	srv, err := cfg.New()
	if err != nil {
		return nil, err
	}
	s.kubeconfig, s.url = cfg.KubeconfigPath, srv.ServingURL

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.runErr = srv.Run(runCtx)
	}()
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := s.waitReady(ctx, timeout); err != nil {
		cancel()
		<-s.done
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	client, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-s.done:
			return false, fmt.Errorf("mini-apiserver stopped while starting: %v", s.runErr)
		default:
		}
		var code int
		client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
		return code == http.StatusOK, nil
	})
}

// StartTLSSink starts an HTTPS audit sink with a CA generated for it and
// writes, in dir, the kubeconfig-format file --audit-webhook-config-file
// takes to reach it. With clientCert the sink requires a client certificate,
// which the file carries. It returns the sink and the file's path.
func StartTLSSink(dir string, clientCert bool) (*sink.Sink, string, error) {
	ca, err := auth.NewCA("audit-sink-ca")
	if err != nil {
		return nil, "", err
	}
	serving, err := auth.NewSigned(ca, auth.ServingTemplate("audit-sink", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}))
	if err != nil {
		return nil, "", err
	}
	cert, err := serving.TLSCertificate()
	if err != nil {
		return nil, "", err
	}
	var clientCAs *x509.CertPool
	authInfo := &clientcmdapi.AuthInfo{}
	if clientCert {
		clientCA, err := auth.NewCA("audit-sink-client-ca")
		if err != nil {
			return nil, "", err
		}
		cred, err := auth.NewSigned(clientCA, auth.ClientTemplate("mini-apiserver"))
		if err != nil {
			return nil, "", err
		}
		clientCAs = x509.NewCertPool()
		clientCAs.AddCert(clientCA.Cert)
		authInfo.ClientCertificateData, authInfo.ClientKeyData = cred.CertPEM, cred.KeyPEM
	}
	s, err := sink.Start(sink.Options{TLS: sink.ClientCATLS(cert, clientCAs)})
	if err != nil {
		return nil, "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sink"] = &clientcmdapi.Cluster{Server: s.URL() + "/audit", CertificateAuthorityData: ca.CertPEM}
	cfg.AuthInfos["apiserver"] = authInfo
	cfg.Contexts["sink"] = &clientcmdapi.Context{Cluster: "sink", AuthInfo: "apiserver"}
	cfg.CurrentContext = "sink"
	path := filepath.Join(dir, "audit-webhook.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		s.Close()
		return nil, "", err
	}
	return s, path, nil
}

// RESTConfig is an admin (system:masters) client configuration.
func (s *Server) RESTConfig() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		panic(fmt.Sprintf("harness: admin kubeconfig %s: %v", s.kubeconfig, err))
	}
	return cfg
}

// Kubeconfig is the path of the admin kubeconfig.
func (s *Server) Kubeconfig() string { return s.kubeconfig }

// URL is the server's https:// address.
func (s *Server) URL() string { return s.url }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// AuditLog is the path of the audit log ("" when there is none).
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

// Stop shuts the server down gracefully (draining audit backends), stops
// the sink and removes a data directory the harness created.
func (s *Server) Stop() error {
	s.cancel()
	<-s.done
	err := s.runErr
	s.cleanup()
	return err
}

func (s *Server) cleanup() {
	if s.sink != nil {
		_ = s.sink.Close()
	}
	if s.ownDataDir {
		_ = os.RemoveAll(s.dataDir)
	}
}

func hasFlag(flags []string, name string) bool {
	_, ok := flagValue(flags, name)
	return ok
}

func flagValue(flags []string, name string) (string, bool) {
	for i, f := range flags {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v, true
		}
		if f == name && i+1 < len(flags) {
			return flags[i+1], true
		}
	}
	return "", false
}
