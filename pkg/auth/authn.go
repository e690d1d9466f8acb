package auth

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/klog/v2"
)

// AuthenticationOptions are the kube-apiserver authentication flags
// mini-apiserver supports. The authenticators are k8s.io/apiserver's.
type AuthenticationOptions struct {
	ClientCAFile  string
	TokenAuthFile string
	Anonymous     bool
}

// NewAuthenticationOptions returns kube-apiserver's defaults.
func NewAuthenticationOptions() *AuthenticationOptions {
	return &AuthenticationOptions{Anonymous: true}
}

// AddFlags adds the flags with kube-apiserver's names and help.
func (o *AuthenticationOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, ""+
		"If set, any request presenting a client certificate signed by one of the authorities in the client-ca-file "+
		"is authenticated with an identity corresponding to the CommonName of the client certificate.")
	fs.StringVar(&o.TokenAuthFile, "token-auth-file", o.TokenAuthFile, ""+
		"If set, the file that will be used to secure the secure port of the API server via token authentication.")
	fs.BoolVar(&o.Anonymous, "anonymous-auth", o.Anonymous, ""+
		"Enables anonymous requests to the secure port of the API server. "+
		"Requests that are not rejected by another authentication method are treated as anonymous requests. "+
		"Anonymous requests have a username of system:anonymous, and a group name of system:unauthenticated.")
}

// Validate checks that the files exist and parse.
func (o *AuthenticationOptions) Validate() []error {
	var errs []error
	if o.ClientCAFile != "" {
		if _, err := readCABundle(o.ClientCAFile); err != nil {
			errs = append(errs, err)
		}
	}
	if o.TokenAuthFile != "" {
		// Every error the library's loader (in New) can return is found
		// here first, with its line.
		if err := checkTokenFile(o.TokenAuthFile); err != nil {
			errs = append(errs, fmt.Errorf("--token-auth-file: %w", err))
		}
	}
	return errs
}

// checkTokenFile names the line of the first malformed record; the
// library's loader reports the file only.
func checkTokenFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	for {
		record, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(record) < 3 {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("%s, line %d: want at least 3 columns (token, user name, user uid[, \"group1,group2\"]), found %d", path, line, len(record))
		}
	}
}

// ApplyAuthorization does what kube-apiserver does: anonymous requests
// and the AlwaysAllow authorizer together would let anyone do anything, so
// anonymous authentication is turned off, with a warning.
func (o *AuthenticationOptions) ApplyAuthorization(modes []string) {
	if o.Anonymous && slices.Contains(modes, ModeAlwaysAllow) {
		klog.Warningf("AnonymousAuth is not allowed with the AlwaysAllow authorizer. Resetting AnonymousAuth to false. You should use a different authorizer")
		o.Anonymous = false
	}
}

func readCABundle(path string) ([]byte, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	if _, err := dynamiccertificates.NewStaticCAContent("client-ca", pem); err != nil {
		return nil, fmt.Errorf("--client-ca-file %s: %w", path, err)
	}
	return pem, nil
}

// New builds kube-apiserver's chain: client certificates (signed by
// generatedCA or --client-ca-file), then bearer tokens from
// --token-auth-file; system:authenticated is added; and, with
// --anonymous-auth, requests no authenticator recognised become
// system:anonymous, while requests with wrong credentials still fail (401).
// The returned CA provider asks TLS clients for certificates.
func (o *AuthenticationOptions) New(generatedCA []byte) (authenticator.Request, dynamiccertificates.CAContentProvider, error) {
	bundle := append([]byte{}, generatedCA...)
	if o.ClientCAFile != "" {
		extra, err := readCABundle(o.ClientCAFile)
		if err != nil {
			return nil, nil, err
		}
		bundle = append(append(bundle, '\n'), extra...)
	}
	ca, err := dynamiccertificates.NewStaticCAContent("client-ca", bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("client CA: %w", err)
	}
	authenticators := []authenticator.Request{x509request.NewDynamic(ca.VerifyOptions, x509request.CommonNameUserConversion)}
	if o.TokenAuthFile != "" {
		tokens, err := tokenfile.NewCSV(o.TokenAuthFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		authenticators = append(authenticators, bearertoken.New(tokens))
	}
	authn := group.NewAuthenticatedGroupAdder(union.New(authenticators...))
	if o.Anonymous {
		authn = union.NewFailOnError(authn, anonymous.NewAuthenticator(nil))
	}
	return authn, ca, nil
}
