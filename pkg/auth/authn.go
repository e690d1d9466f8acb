package auth

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/klog/v2"
)

// tokenSuccessCacheTTL is how long a token that authenticated is believed
// without being checked again: kube-apiserver's fixed default.
const tokenSuccessCacheTTL = 10 * time.Second

// AuthenticationOptions are the kube-apiserver authentication flags
// mini-apiserver supports. The authenticators are k8s.io/apiserver's.
type AuthenticationOptions struct {
	// ClientCert is the library's --client-ca-file: the file is watched and
	// reloaded when it changes, as in kube-apiserver.
	ClientCert    genericoptions.ClientCertAuthenticationOptions
	TokenAuthFile string
	Anonymous     bool

	// clientCA is --client-ca-file's content, read once (by Validate or New).
	clientCA     dynamiccertificates.CAContentProvider
	clientCAErr  error
	clientCARead bool
}

// NewAuthenticationOptions returns kube-apiserver's defaults.
func NewAuthenticationOptions() *AuthenticationOptions {
	return &AuthenticationOptions{Anonymous: true}
}

// AddFlags adds the flags with kube-apiserver's names and help.
func (o *AuthenticationOptions) AddFlags(fs *pflag.FlagSet) {
	o.ClientCert.AddFlags(fs)
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
	if _, err := o.clientCAFile(); err != nil {
		errs = append(errs, err)
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

// clientCAFile reads --client-ca-file once; nil when it is not given.
func (o *AuthenticationOptions) clientCAFile() (dynamiccertificates.CAContentProvider, error) {
	if !o.clientCARead {
		o.clientCARead = true
		o.clientCA, o.clientCAErr = o.ClientCert.GetClientCAContentProvider()
		if o.clientCAErr != nil {
			o.clientCAErr = fmt.Errorf("--client-ca-file: %w", o.clientCAErr)
		}
	}
	return o.clientCA, o.clientCAErr
}

// New builds kube-apiserver's chain: client certificates (signed by
// generatedCA or --client-ca-file), then bearer tokens from
// --token-auth-file; system:authenticated is added; and, with
// --anonymous-auth, requests no authenticator recognised become
// system:anonymous, while requests with wrong credentials still fail (401).
// The returned CA provider asks TLS clients for certificates. tokens are
// more bearer token authenticators (service-account tokens).
func (o *AuthenticationOptions) New(generatedCA []byte, tokens ...authenticator.Token) (authenticator.Request, dynamiccertificates.CAContentProvider, error) {
	var ca dynamiccertificates.CAContentProvider
	ca, err := dynamiccertificates.NewStaticCAContent("client-ca", generatedCA)
	if err != nil {
		return nil, nil, fmt.Errorf("client CA: %w", err)
	}
	userCA, err := o.clientCAFile()
	if err != nil {
		return nil, nil, err
	}
	if userCA != nil {
		ca = dynamiccertificates.NewUnionCAContentProvider(ca, userCA)
	}
	authenticators := []authenticator.Request{x509request.NewDynamic(ca.VerifyOptions, x509request.CommonNameUserConversion)}
	if o.TokenAuthFile != "" {
		csv, err := tokenfile.NewCSV(o.TokenAuthFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		tokens = append([]authenticator.Token{csv}, tokens...)
	}
	if len(tokens) > 0 {
		// As kube-apiserver (pkg/kubeapiserver/authenticator/config.go):
		// one union of the token authenticators behind the library's
		// cache, successes kept 10 s, failures not; tokens also come as
		// a WebSocket subprotocol, where browsers cannot set a header.
		cached := tokencache.New(tokenunion.New(tokens...), true, tokenSuccessCacheTTL, 0)
		authenticators = append(authenticators, bearertoken.New(cached), websocket.NewProtocolAuthenticator(cached))
	}
	authn := group.NewAuthenticatedGroupAdder(union.New(authenticators...))
	if o.Anonymous {
		authn = union.NewFailOnError(authn, anonymous.NewAuthenticator(nil))
	}
	return authn, ca, nil
}
