package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// inProcessListener is where the server's own informers reach its handler
// chain: connections made in this process (net.Pipe), served by a plain
// HTTP server of the same handler. It serves from the moment the server is
// prepared, before the secure port does, so those informers have listed by
// the time the post-start hooks check them: apiextensions-apiserver's
// hooks poll their informer every 100 ms from the moment the port serves,
// and an informer that lists through the port is never synced at the first
// check. The requests are authenticated by the loopback token, authorized
// and audited as on the port; only the transport differs.
type inProcessListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newInProcessListener() *inProcessListener {
	return &inProcessListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errInProcessClosed = errors.New("in-process listener closed")

func (l *inProcessListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errInProcessClosed
	}
}

func (l *inProcessListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *inProcessListener) Addr() net.Addr { return inProcessAddr{} }

// dial makes a connection the listener accepts.
func (l *inProcessListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errInProcessClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type inProcessAddr struct{}

func (inProcessAddr) Network() string { return "pipe" }

// String is an address the audit trail records as the loopback one.
func (inProcessAddr) String() string { return "127.0.0.1:0" }

// serve serves h on l until l is closed. A request's RemoteAddr is the
// loopback address, what the server's own requests come from on the port.
func (l *inProcessListener) serve(h http.Handler) *http.Server {
	s := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.RemoteAddr = inProcessAddr{}.String()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() { _ = s.Serve(l) }()
	return s
}

// inProcessConfig is c (the loopback client's, which authenticates with a
// bearer token) over l: plain HTTP, as nothing outside the process can
// reach it.
func inProcessConfig(c *rest.Config, dial func(context.Context, string, string) (net.Conn, error)) *rest.Config {
	c = rest.CopyConfig(c)
	c.Host = "http://in-process"
	c.TLSClientConfig = rest.TLSClientConfig{}
	c.Dial = dial
	return c
}
