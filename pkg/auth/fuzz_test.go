package auth

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// A token file either passes the line check and loads, or is refused; the
// check never passes a file the library then refuses for too few columns.
func FuzzTokenFile(f *testing.F) {
	for _, seed := range []string{"t,alice,1\n", "t,alice,1,\"a,b\"\n", "t,alice\n", "\"unterminated\n", ",,\n", ""} {
		f.Add(seed)
	}
	dir := f.TempDir()
	ca, err := pki.NewCA("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "tokens.csv")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		o := &AuthenticationOptions{TokenAuthFile: path}
		errs := o.Validate()
		if len(errs) == 0 {
			if _, _, err := o.New(ca.CertPEM); err != nil {
				t.Fatalf("validated token file refused at start: %v", err)
			}
		}
	})
}
