package console

import (
	"strings"
	"testing"
)

// Beyond loopback the console needs a token and TLS; a bad --auth is named.
func TestStartRefusesExposure(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Addr: "0.0.0.0:0", Auth: AuthNone}, "refusing to serve 0.0.0.0:0 beyond loopback with --auth=none"},
		{Options{Addr: "0.0.0.0:0"}, "refusing to serve 0.0.0.0:0 beyond loopback without TLS"},
		{Options{Addr: "127.0.0.1:0", Auth: "maybe"}, `--auth "maybe": want token or none`},
		{Options{Addr: "127.0.0.1:0", TLSCertFile: "c.pem"}, "--tls-cert-file and --tls-private-key-file must be given together"},
		{Options{Addr: "127.0.0.1:0", TLSCertFile: "/nonexistent.crt", TLSKeyFile: "/nonexistent.key"}, "--tls-cert-file /nonexistent.crt / --tls-private-key-file /nonexistent.key: open /nonexistent.crt"},
	} {
		c, err := Start(NewStore(0), tc.opts)
		if err == nil {
			c.Close()
			t.Errorf("%+v: started, want %q", tc.opts, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		c, err := Start(NewStore(0), Options{Addr: addr})
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if u := c.URL(); !strings.Contains(u, "/?token=") || len(u[strings.Index(u, "=")+1:]) != 64 || c.Insecure() {
			t.Errorf("%s: URL %s, want a 64-hex-digit token", addr, u)
		}
		c.Close()
	}
	c, err := Start(NewStore(0), Options{Addr: "127.0.0.1:0", Auth: AuthNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if strings.Contains(c.URL(), "token") || !c.Insecure() {
		t.Errorf("--auth=none: URL %s, insecure %v", c.URL(), c.Insecure())
	}
}
