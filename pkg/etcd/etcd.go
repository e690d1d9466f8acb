// Package etcd runs a single-member etcd inside the mini-apiserver process,
// listening on a loopback port chosen by the kernel.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Config configures the embedded etcd. The zero value of every field but Dir
// has a sane default.
type Config struct {
	// Dir holds the member's data (WAL and snapshots); created 0700.
	Dir string
	// ReadyTimeout bounds how long Start waits for the member to serve.
	ReadyTimeout time.Duration
	// Logger receives etcd's own logs; nil logs only real errors to stderr.
	Logger *zap.Logger
	// TLS, when set, serves clients (and the unused peer port) over TLS and
	// accepts only client certificates signed by CAFile: the member's data
	// is then reachable only with a key from the data directory.
	TLS *TLSFiles
	// Disposable is a member whose data is thrown away when it stops (a
	// test's): it elects itself sooner, at the price of more idle CPU, and
	// does not fsync (--unsafe-no-fsync), as disposable local clusters run
	// etcd.
	Disposable bool
}

// TLSFiles are the PEM files of the member's TLS.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// Server is an embedded etcd member, as embed.Etcd: Start returns it at
// once, ReadyNotify says when it serves clients, Err when it failed.
type Server struct {
	cfg   Config
	probe *tls.Config

	ready     chan struct{}
	errc      chan error
	started   chan struct{} // closed once the start goroutine is done
	stop      chan struct{} // closed by Close, ends a start in progress
	etcd      *embed.Etcd
	clientURL string
	closeOnce sync.Once
}

// Start starts the member in the background and returns at once: a new
// member spends most of its start creating its WAL and waiting out its
// election, time the caller can use. Wait on ReadyNotify and Err.
func Start(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("embedded etcd: no data directory given")
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	ec, probe, err := embedConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	s := &Server{cfg: cfg, probe: probe, ready: make(chan struct{}), errc: make(chan error, 1),
		started: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(s.started)
		if err := s.run(ec); err != nil {
			s.errc <- fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, err)
		}
	}()
	return s, nil
}

// run starts etcd and waits until it serves clients or ReadyTimeout passes.
func (s *Server) run(ec *embed.Config) error {
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return err
	}
	s.etcd = e
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return err
	case <-s.stop:
		return errors.New("closed while starting")
	case <-time.After(s.cfg.ReadyTimeout):
		return fmt.Errorf("not ready after %s", s.cfg.ReadyTimeout)
	}
	grpcListener, err := grpcListener(e.Clients, s.probe)
	if err != nil {
		return err
	}
	s.clientURL = ec.ListenClientUrls[0].Scheme + "://" + grpcListener.Addr().String()
	close(s.ready)
	go func() {
		// The member's fatal errors after start.
		select {
		case err := <-e.Err():
			s.errc <- err
		case <-s.stop:
		}
	}()
	return nil
}

// embedConfig is the member's configuration: one member on loopback ports
// the kernel chooses.
func embedConfig(cfg Config) (*embed.Config, *tls.Config, error) {
	ec := embed.NewConfig()
	ec.Name = "mini-apiserver"
	ec.Dir = cfg.Dir
	// One member on loopback: a short tick and election timeout make the
	// member elect itself within tens of milliseconds. etcd fast-forwards a
	// single member's election ticks on start, but the randomised timeout it
	// then waits out is up to twice ElectionMs, and the server waits for it
	// on its critical path. 25 ms (the least etcd allows with a 5 ms tick)
	// elected in a median 22 ms over 12 restarts here where 50 ms with a
	// 10 ms tick took 47, some 5% of the server's start; the price is the
	// ticks of an idle server, whose CPU make bench reports beside
	// kube-apiserver + etcd's.
	ec.TickMs = 5
	ec.ElectionMs = 25
	if cfg.Disposable {
		// 2 and 10 ms: a member ready in a median 15 ms over 15 starts
		// here where 5 and 25 took 27; the idle process used 4.2% of a
		// core against 2.6% (20 s of /proc/PID/stat, two runs each). A
		// 1 ms tick was slower to ready (21 ms).
		ec.TickMs = 2
		ec.ElectionMs = 10
		ec.UnsafeNoFsync = true
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
		info := transport.TLSInfo{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, TrustedCAFile: cfg.TLS.CAFile, ClientCertAuth: true}
		ec.ClientTLSInfo, ec.PeerTLSInfo = info, info
	}
	client := url.URL{Scheme: scheme, Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: scheme, Host: "127.0.0.1:0"}
	ec.ListenClientUrls = []url.URL{client}
	ec.AdvertiseClientUrls = []url.URL{client}
	var probe *tls.Config
	if cfg.TLS != nil {
		// etcd's HTTP endpoints (/health, /metrics, /version) on a port of
		// their own leave the client port to the gRPC server alone; on one
		// TLS port etcd hands gRPC to net/http's HTTP/2 server
		// (grpc.Server.ServeHTTP), and a get costs the server 9% more CPU.
		// etcd refuses two URLs that read the same, hence localhost.
		ec.ListenClientHttpUrls = []url.URL{{Scheme: scheme, Host: "localhost:0"}}
		// The member's certificate is also a client one (a peer's).
		var err error
		if probe, err = (transport.TLSInfo{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, TrustedCAFile: cfg.TLS.CAFile}).ClientConfig(); err != nil {
			return nil, nil, err
		}
	}
	ec.ListenPeerUrls = []url.URL{peer}
	// The advertised peer URL is never dialled by a single member; it only
	// has to agree with InitialCluster across restarts.
	advertisedPeer := url.URL{Scheme: scheme, Host: "127.0.0.1:2380"}
	ec.AdvertisePeerUrls = []url.URL{advertisedPeer}
	ec.InitialCluster = ec.Name + "=" + advertisedPeer.String()
	ec.ListenMetricsUrls = nil
	logger := cfg.Logger
	if logger == nil {
		var err error
		if logger, err = newQuietLogger(); err != nil {
			return nil, nil, err
		}
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	return ec, probe, nil
}

// grpcListener is the client listener that serves gRPC. etcd lists its
// client listeners in no set order; of the two, the HTTP endpoints' answers
// GET /version, the gRPC one does not speak HTTP/1.1.
func grpcListener(clients []net.Listener, tlsConfig *tls.Config) (net.Listener, error) {
	if len(clients) == 1 {
		return clients[0], nil
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer hc.CloseIdleConnections()
	var grpc []net.Listener
	for _, l := range clients {
		res, err := hc.Get("https://" + l.Addr().String() + "/version")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				continue
			}
		}
		grpc = append(grpc, l)
	}
	if len(grpc) != 1 {
		return nil, fmt.Errorf("%d of %d client listeners do not answer GET /version, want 1 (the gRPC one)", len(grpc), len(clients))
	}
	return grpc[0], nil
}

// ReadyNotify is closed once the member serves clients at ClientURL.
func (s *Server) ReadyNotify() <-chan struct{} { return s.ready }

// WaitReady waits until the member serves clients, its start fails, or
// ctx is done.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case err := <-s.errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("embedded etcd: %w", ctx.Err())
	}
}

// Err receives the error that ended the member's start (it never becomes
// ready then) or, once ready, a fatal error of the running member.
func (s *Server) Err() <-chan error { return s.errc }

// ClientURL is the http(s)://127.0.0.1:port address clients dial, once
// ReadyNotify is closed.
func (s *Server) ClientURL() string { return s.clientURL }

// InProcessClient returns a client of the member that calls its gRPC
// services' functions (etcd's v3client), not through its client port: no
// TLS, HTTP/2 or protobuf between the server and its own member. Once
// ReadyNotify is closed; the caller closes it.
func (s *Server) InProcessClient() *clientv3.Client { return v3client.New(s.etcd.Server) }

// Close stops the member, or its start in progress, and releases its data
// directory; calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.started
		if s.etcd != nil {
			s.etcd.Close()
		}
	})
}
