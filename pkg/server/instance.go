package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	utiltrace "k8s.io/utils/trace"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logfile"
)

// Instance is a running mini-apiserver, as etcd's embed.Etcd: Start returns
// it once the server is built and serving, Ready says when /readyz answers
// 200, Done when it stopped, Close stops it. It owns what the start opened
// (the bound port, the embedded etcd, the audit log file) and releases them
// when it stops.
type Instance struct {
	// URL is the https:// address clients reach the server at.
	URL string
	// Port is the secure port.
	Port int
	// DataDir is the server's data directory.
	DataDir string
	// KubeconfigPath is the generated admin kubeconfig.
	KubeconfigPath string

	admin *rest.Config

	ready     <-chan struct{}
	done      chan struct{}
	err       error
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// StartOption changes how Start builds the server, for callers that hold it
// in their own process (the harness).
type StartOption func(*startOptions)

type startOptions struct {
	listener       net.Listener
	wrapAPIHandler func(http.Handler) http.Handler
	// startup records the phases of the start; logged at --v=2 once the
	// server is ready.
	startup          *utiltrace.Trace
	disposableEtcd   bool
	returnIdleMemory bool
}

// WithListener serves on l instead of binding --bind-address and
// --secure-port: a caller that bound a free port hands it over, so parallel
// servers never race for one. The instance closes it.
func WithListener(l net.Listener) StartOption {
	return func(o *startOptions) { o.listener = l }
}

// WithAPIHandlerWrapper wraps the API handler inside the default handler
// chain (inside audit, authentication and authorization), e.g. to inject a
// handler that panics.
func WithAPIHandlerWrapper(wrap func(http.Handler) http.Handler) StartOption {
	return func(o *startOptions) { o.wrapAPIHandler = wrap }
}

// WithDisposableEtcd starts the embedded etcd as a member whose data is
// thrown away when the server stops (a test's): it is ready sooner and
// does not fsync (etcd.Config.Disposable).
func WithDisposableEtcd() StartOption {
	return func(o *startOptions) { o.disposableEtcd = true }
}

// WithIdleMemoryReturned returns the process's free heap to the operating
// system (debug.FreeOSMemory) after the first build of each OpenAPI
// document: the MutatingAdmissionPolicy plugin asks for /openapi/v3 as the
// server becomes ready, and building every group's document then leaves
// some 25 MiB of garbage the runtime hands back only slowly, in a server
// that then idles. For a process that is the server (the command); one
// that holds servers among its own work (a test's) leaves its heap to the
// runtime.
func WithIdleMemoryReturned() StartOption {
	return func(o *startOptions) { o.returnIdleMemory = true }
}

// Start builds the server from completed, validated options and starts
// serving it in the background. It returns once the port is served; wait on
// Ready (or WaitReady) for /readyz. ctx bounds the start (waiting for etcd),
// not the server's life: Close stops it. On error nothing it opened is left.
func Start(ctx context.Context, o CompletedOptions, opts ...StartOption) (_ *Instance, err error) {
	so := startOptions{startup: utiltrace.New("Start-up", utiltrace.Field{Key: "sinceExec", Value: time.Since(processStart).Round(time.Millisecond)})}
	for _, opt := range opts {
		opt(&so)
	}
	res := &resources{listener: so.listener}
	defer func() {
		if err != nil {
			res.release()
		}
	}()
	cfg, err := o.config(ctx, res, so)
	if err != nil {
		return nil, err
	}
	srv, err := cfg.Complete().New()
	if err != nil {
		return nil, err
	}
	so.startup.Step("servers built")
	runCtx, cancel := context.WithCancel(context.Background())
	inst := &Instance{
		URL: srv.ServingURL, Port: res.listener.Addr().(*net.TCPAddr).Port,
		DataDir: o.DataDir, KubeconfigPath: cfg.Extra.KubeconfigPath, admin: cfg.Extra.AdminConfig,
		ready: srv.ready, done: make(chan struct{}), cancel: cancel,
	}
	go func() {
		defer close(inst.done)
		inst.err = srv.Run(runCtx)
		res.release()
	}()
	return inst, nil
}

// Ready is closed when /readyz first answers 200.
func (i *Instance) Ready() <-chan struct{} { return i.ready }

// Done is closed when the server has stopped, by Close or by a failure.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Err is how the server ended, once Done is closed.
func (i *Instance) Err() error {
	select {
	case <-i.done:
		return i.err
	default:
		return nil
	}
}

// WaitReady returns when the server is ready, has stopped (its error), or
// ctx is done.
func (i *Instance) WaitReady(ctx context.Context) error {
	select {
	case <-i.ready:
		return nil
	case <-i.done:
		if i.err == nil {
			return errors.New("mini-apiserver stopped while starting")
		}
		return fmt.Errorf("mini-apiserver stopped while starting: %w", i.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RESTConfig is a client configuration for the admin (system:masters)
// credential the data directory holds.
func (i *Instance) RESTConfig() *rest.Config { return rest.CopyConfig(i.admin) }

// Close shuts the server down gracefully (draining the audit backends),
// stops the embedded etcd and closes the audit log; it returns how the
// server ended. Calling it again returns the same.
func (i *Instance) Close() error {
	i.closeOnce.Do(i.cancel)
	<-i.done
	return i.err
}

// resources are what a start opened: the instance releases them when the
// server stops, Start when it fails.
type resources struct {
	listener net.Listener
	etcd     *embeddedEtcd
	auditLog *logfile.File
}

func (r *resources) release() {
	if r.listener != nil {
		_ = r.listener.Close()
	}
	if r.etcd != nil {
		r.etcd.Close()
	}
	if r.auditLog != nil {
		_ = r.auditLog.Close()
	}
}
