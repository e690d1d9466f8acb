package esbulk

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	certutil "k8s.io/client-go/util/cert"
)

// Flags are the command-line flags that say where the store is and how to
// authenticate, shared by audit-sink and auditctl ship.
type Flags struct {
	URL, Index                       string
	Username, Password               string
	PasswordFile, APIKeyFile, CAFile string
}

// AddFlags adds the --elasticsearch-* connection flags.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.URL, "elasticsearch-url", f.URL, "Elasticsearch bulk API base (BASE/_bulk), e.g. https://es:9200 or, for VictoriaLogs, http://127.0.0.1:9428/insert/elasticsearch?_time_field=@timestamp&_msg_field=requestURI")
	fs.StringVar(&f.Index, "elasticsearch-index", DefaultIndex, "index the events go to")
	fs.StringVar(&f.Username, "elasticsearch-username", "", "basic auth user name")
	fs.StringVar(&f.Password, "elasticsearch-password", "", "basic auth password (prefer --elasticsearch-password-file: a flag shows in the process list)")
	fs.StringVar(&f.PasswordFile, "elasticsearch-password-file", "", "file holding the basic auth password")
	fs.StringVar(&f.APIKeyFile, "elasticsearch-api-key-file", "", "file holding an API key (Authorization: ApiKey)")
	fs.StringVar(&f.CAFile, "elasticsearch-ca-file", "", "CA bundle (PEM) the store's certificate must chain to")
}

// NewClient checks the flags and returns a client. Secrets are read from
// their files and never appear in an error.
func (f *Flags) NewClient() (*Client, error) {
	if f.URL == "" {
		return nil, errors.New("--elasticsearch-url is required")
	}
	if f.Password != "" && f.PasswordFile != "" {
		return nil, errors.New("--elasticsearch-password and --elasticsearch-password-file: give one")
	}
	co := ClientOptions{URL: f.URL, Index: f.Index, Username: f.Username, Password: f.Password}
	if f.PasswordFile != "" {
		p, err := readSecret(f.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--elasticsearch-password-file: %w", err)
		}
		co.Password = p
	}
	if f.APIKeyFile != "" {
		k, err := readSecret(f.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--elasticsearch-api-key-file: %w", err)
		}
		co.APIKey = k
	}
	if co.Password != "" && co.Username == "" {
		return nil, errors.New("--elasticsearch-password needs --elasticsearch-username")
	}
	if f.CAFile != "" {
		pool, err := certutil.NewPool(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--elasticsearch-ca-file: %w", err)
		}
		co.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("--elasticsearch-url: %w", err)
	}
	return c, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
