package console

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

//go:embed web
var web embed.FS

// Options configure the console's web server.
type Options struct {
	// Addr to listen on; default 127.0.0.1:8077.
	Addr string
	// Policy, when set, explains each request's level (auditctl explain).
	Policy *policytool.Policy
	// Source says where the events come from, shown on the page.
	Source string
	// Auth is AuthToken (the default: a token made at start, in URL) or
	// AuthNone. Token, when set, is the token instead of a new one.
	Auth, Token string
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS; beyond loopback
	// they are required.
	TLSCertFile, TLSKeyFile string
}

// Console serves a Store over HTTP.
type Console struct {
	store  *Store
	opts   Options
	server *http.Server
	addr   string
}

// Handler is the console's HTTP handler:
//
//	/                      the page (filters in the query, ?audit-id= for one request)
//	/api/requests          a Page as JSON (the filters, limit, before)
//	/api/requests/{id}     a Detail as JSON
//	/api/stream            server-sent events: "version" each time the store changes
func Handler(store *Store, opts Options) http.Handler {
	c := &Console{store: store, opts: opts}
	return withAuth(c.routes(), opts.Token, false)
}

// Start listens on opts.Addr and serves the console until Close.
func Start(store *Store, opts Options) (*Console, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8077"
	}
	switch opts.Auth {
	case "":
		opts.Auth = AuthToken
	case AuthToken, AuthNone:
	default:
		return nil, fmt.Errorf("console: --auth %q: want %s or %s", opts.Auth, AuthToken, AuthNone)
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, fmt.Errorf("console: --tls-cert-file and --tls-private-key-file must be given together")
	}
	if err := checkExposure(opts.Addr, opts); err != nil {
		return nil, err
	}
	if opts.Auth == AuthToken && opts.Token == "" {
		var err error
		if opts.Token, err = newToken(); err != nil {
			return nil, err
		}
	}
	if opts.Auth == AuthNone {
		opts.Token = ""
	}
	var tlsConfig *tls.Config
	if opts.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("console: --tls-cert-file %s / --tls-private-key-file %s: %w", opts.TLSCertFile, opts.TLSKeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	c := &Console{store: store, opts: opts, addr: l.Addr().String()}
	c.server = &http.Server{Handler: withAuth(c.routes(), opts.Token, tlsConfig != nil), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.server.Serve(l) }()
	return c, nil
}

// URL is where to open the console: with its token, which the page trades
// for a cookie at once.
func (c *Console) URL() string {
	scheme := "http"
	if c.opts.TLSCertFile != "" {
		scheme = "https"
	}
	u := scheme + "://" + c.addr + "/"
	if c.opts.Token != "" {
		u += "?" + tokenParam + "=" + c.opts.Token
	}
	return u
}

// Insecure says whether the console serves anyone who reaches it.
func (c *Console) Insecure() bool { return c.opts.Token == "" }

// Close stops serving; streams in progress end.
func (c *Console) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.server.Shutdown(ctx); err != nil {
		return c.server.Close()
	}
	return nil
}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(web, "web")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		page, _ := web.ReadFile("web/index.html")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /api/requests", func(w http.ResponseWriter, r *http.Request) {
		p := c.store.Query(ParseQuery(r.URL.Query().Get))
		p.Source = c.opts.Source
		writeJSON(w, p)
	})
	mux.HandleFunc("GET /api/requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := c.store.detail(r.PathValue("id"), c.opts.Policy)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if d == nil {
			http.Error(w, "no request with audit ID "+r.PathValue("id")+" (not seen, or forgotten beyond the console's capacity)", http.StatusNotFound)
			return
		}
		writeJSON(w, d)
	})
	mux.HandleFunc("GET /api/stream", c.stream)
	return mux
}

// stream tells the page when to fetch again: at most every 100 ms, so a
// busy log costs the page a few small queries a second; a comment every
// 15 s keeps idle connections open through proxies.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	send := func(msg string) bool {
		if _, err := fmt.Fprint(w, msg); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	v := c.store.Version()
	if !send(fmt.Sprintf("event: version\ndata: %d\n\n", v)) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		wait, cancel := context.WithTimeout(ctx, 15*time.Second)
		next := c.store.Wait(wait, v)
		cancel()
		msg := ": keepalive\n\n"
		if next != v {
			v = next
			msg = fmt.Sprintf("event: version\ndata: %d\n\n", v)
		}
		if ctx.Err() != nil || !send(msg) {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// An error here is the client gone away: nothing to tell it.
	_ = json.NewEncoder(w).Encode(v)
}
