package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/pflag"
)

// The console holds who did what in the cluster, objects included: as local
// web tools with such data do (Jupyter's model), it asks for a secret made
// at each start, printed once in the URL to open, and exchanged for an
// HttpOnly, SameSite cookie.
const (
	// AuthToken requires the start's token; AuthNone serves anyone.
	AuthToken = "token"
	AuthNone  = "none"

	tokenParam  = "token"
	tokenCookie = "auditctl-console-token"
)

// securityHeaders are sent with every answer: no script or style but the
// console's own, nothing from another origin, no framing, no content-type
// sniffing, no Referer carrying a URL out.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
}

// newToken is 32 random bytes in hex.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkExposure refuses to serve beyond loopback without both a token and
// TLS: the audit trail would be open to the network, or its token sent in
// clear.
func checkExposure(addr string, opts Options) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("console: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	switch {
	case opts.Auth == AuthNone:
		return fmt.Errorf("console: refusing to serve %s beyond loopback with --auth=none: anyone who reaches it would read the audit trail", addr)
	case opts.TLSCertFile == "":
		return fmt.Errorf("console: refusing to serve %s beyond loopback without TLS (--tls-cert-file, --tls-private-key-file): its token would cross the network in clear", addr)
	}
	return nil
}

// withAuth answers 401 to a request without the token (the cookie, a
// bearer header, or ?token= in the URL, which sets the cookie and is
// dropped from the URL by a redirect), and adds the security headers to
// every answer.
func withAuth(next http.Handler, token string, secure bool) http.Handler {
	valid := func(v string) bool { return subtle.ConstantTimeCompare([]byte(v), []byte(token)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if token == "" {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query(); q.Has(tokenParam) {
			if !valid(q.Get(tokenParam)) {
				unauthorized(w)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: token, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
			q.Del(tokenParam)
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && valid(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && valid(bearer) {
			next.ServeHTTP(w, r)
			return
		}
		unauthorized(w)
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = fmt.Fprintln(w, "401 Unauthorized: open the console with the URL it printed at start (…/?token=…), or send Authorization: Bearer <token>.")
}

// SecurityFlags are the console's access flags, for auditctl console and
// (prefixed "console-") audit-sink.
type SecurityFlags struct {
	Auth, TLSCertFile, TLSKeyFile string
}

// AddFlags adds --<prefix>auth, --<prefix>tls-cert-file and
// --<prefix>tls-private-key-file.
func (f *SecurityFlags) AddFlags(fs *pflag.FlagSet, prefix string) {
	fs.StringVar(&f.Auth, prefix+"auth", AuthToken, "token: the console asks for a token made at start and printed in its URL; "+
		"none: anyone who reaches the console reads the audit trail (loopback only)")
	fs.StringVar(&f.TLSCertFile, prefix+"tls-cert-file", "", "serve the console over HTTPS with this certificate (PEM); required beyond loopback")
	fs.StringVar(&f.TLSKeyFile, prefix+"tls-private-key-file", "", "private key of --"+prefix+"tls-cert-file")
}

// ApplyTo sets the flags in o.
func (f *SecurityFlags) ApplyTo(o *Options) {
	o.Auth, o.TLSCertFile, o.TLSKeyFile = f.Auth, f.TLSCertFile, f.TLSKeyFile
}

// InsecureWarning is what a console that serves anyone prints at start.
func InsecureWarning(url string) string {
	return "WARNING: the console at " + url + " has no authentication (--auth=none): anyone who can reach it reads the audit trail"
}
