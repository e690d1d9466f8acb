package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"k8s.io/client-go/rest"
)

// background is the server as its own client: the shared informers and the
// in-process controllers. They stop when shutdown begins (a pre-shutdown
// hook, which the library runs before the server stops listening) and every
// connection they opened is closed then.
//
// Stopping them is not enough. Go's HTTP/2 server tells the connections it
// knows of to go away when Shutdown begins, but one whose TLS handshake ends
// a moment later registers unseen and keeps Shutdown waiting for the
// library's timeout, a minute (golang/go#81154, open in Go 1.26). Clients
// that start connections at any time (an informer re-listing, a controller
// starting as the server is closed) are the ones that hit it: so they dial
// through here, and none dials once shutdown has begun.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	stopped bool
	conns   map[*backgroundConn]struct{}
	dialer  net.Dialer

	// inProcess serves the loopback clients (loopbackConfig) in the
	// process; inProcessServer is its HTTP server once serving.
	inProcess       *inProcessListener
	inProcessServer *http.Server

	// beforeStop run, in order, when shutdown begins, while the in-process
	// clients still work: the library runs pre-shutdown hooks in no set
	// order, so what still needs a client is not a hook of its own.
	beforeStop []func()
}

var errShuttingDown = errors.New("server shutting down: in-process clients are stopped")

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel, conns: map[*backgroundConn]struct{}{}, inProcess: newInProcessListener()}
}

// loopbackConfig is c, the loopback client's configuration, for an
// in-process client that reaches the server through b.inProcess.
func (b *background) loopbackConfig(c *rest.Config) *rest.Config {
	return inProcessConfig(c, func(ctx context.Context, network, addr string) (net.Conn, error) {
		return b.track(func() (net.Conn, error) { return b.inProcess.dial(ctx, network, addr) })
	})
}

// serveInProcess starts serving h to the loopback clients.
func (b *background) serveInProcess(h http.Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.stopped && b.inProcessServer == nil {
		b.inProcessServer = b.inProcess.serve(h)
	}
}

// clientConfig is c for an in-process client: it dials through b.
func (b *background) clientConfig(c *rest.Config) *rest.Config {
	c = rest.CopyConfig(c)
	c.Dial = b.dial
	return c
}

// context ends when hook does or shutdown begins.
func (b *background) context(hook context.Context) context.Context {
	ctx, cancel := context.WithCancel(b.ctx)
	go func() {
		select {
		case <-hook.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx
}

// onStop registers f to run when shutdown begins, before the in-process
// clients stop.
func (b *background) onStop(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.beforeStop = append(b.beforeStop, f)
}

// stop ends the in-process clients and closes their connections, those
// still in their handshake included.
func (b *background) stop() error {
	b.mu.Lock()
	before := b.beforeStop
	b.beforeStop = nil
	b.mu.Unlock()
	for _, f := range before {
		f()
	}
	b.cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	for c := range b.conns {
		// The connection itself: its Close would take b.mu.
		_ = c.Conn.Close()
	}
	clear(b.conns)
	_ = b.inProcess.Close()
	if b.inProcessServer != nil {
		_ = b.inProcessServer.Close()
	}
	return nil
}

func (b *background) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return b.track(func() (net.Conn, error) { return b.dialer.DialContext(ctx, network, addr) })
}

// track dials, unless shutdown has begun, and keeps the connection to
// close when it does.
func (b *background) track(dial func() (net.Conn, error)) (net.Conn, error) {
	if b.isStopped() {
		return nil, errShuttingDown
	}
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// stop may have run while this dialled.
	if b.stopped {
		_ = conn.Close()
		return nil, errShuttingDown
	}
	tracked := &backgroundConn{Conn: conn, b: b}
	b.conns[tracked] = struct{}{}
	return tracked, nil
}

func (b *background) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

// backgroundConn leaves b's set when closed.
type backgroundConn struct {
	net.Conn
	b    *background
	once sync.Once
}

func (c *backgroundConn) Close() error {
	c.once.Do(func() {
		c.b.mu.Lock()
		delete(c.b.conns, c)
		c.b.mu.Unlock()
	})
	return c.Conn.Close()
}
