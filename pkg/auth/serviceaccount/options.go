package serviceaccount

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/client-go/util/keyutil"
)

// DefaultIssuer is kubeadm's --service-account-issuer, used when none is
// given.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// Options are kube-apiserver's service-account token flags.
type Options struct {
	// Issuers: the first issues tokens, all are accepted.
	Issuers []string
	// KeyFiles verify tokens (public or private keys, certificates);
	// without them the signing key's public half does.
	KeyFiles []string
	// SigningKeyFile signs tokens; without it one is generated once in
	// the data directory, as kubeadm writes sa.key.
	SigningKeyFile string
	// APIAudiences are the audiences of the API; default the issuers.
	APIAudiences []string
	// MaxExpiration shortens longer TokenRequests (0: no limit).
	MaxExpiration time.Duration
	// ExtendExpiration lets a pod's kubelet-style token (3607 s) live a
	// year, warning after its requested lifetime, as kube.
	ExtendExpiration bool
	// JWKSURI overrides the jwks_uri of the discovery document.
	JWKSURI string
	// Lookup is kube's --service-account-lookup: it concerns legacy
	// secret-based tokens, which this server does not issue; bound tokens
	// are always looked up.
	Lookup bool
}

// NewOptions returns kube-apiserver's defaults.
func NewOptions() *Options {
	return &Options{ExtendExpiration: true, Lookup: true}
}

// AddFlags adds the flags with kube-apiserver's names.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Issuers, "service-account-issuer", o.Issuers, ""+
		"Identifier of the service account token issuer: the iss claim of issued tokens. Repeated, the first issues and all are accepted. "+
		"Default: "+DefaultIssuer+".")
	fs.StringArrayVar(&o.KeyFiles, "service-account-key-file", o.KeyFiles, ""+
		"File containing PEM-encoded x509 RSA or ECDSA private or public keys, used to verify ServiceAccount tokens. "+
		"Repeatable. Default: the --service-account-signing-key-file's public key.")
	fs.StringVar(&o.SigningKeyFile, "service-account-signing-key-file", o.SigningKeyFile, ""+
		"Path to the file that contains the current private key of the service account token issuer. "+
		"Default: <data-dir>/pki/sa.key, an ECDSA P-256 key generated on first start.")
	fs.StringSliceVar(&o.APIAudiences, "api-audiences", o.APIAudiences, ""+
		"Identifiers of the API. Tokens requested without audiences get these; a token must name one of them. Default: the issuers.")
	fs.DurationVar(&o.MaxExpiration, "service-account-max-token-expiration", o.MaxExpiration, ""+
		"The maximum validity duration of a token created by the service account token issuer; longer requests are shortened.")
	fs.BoolVar(&o.ExtendExpiration, "service-account-extend-token-expiration", o.ExtendExpiration, ""+
		"Turns on projected service account expiration extension during token generation.")
	fs.StringVar(&o.JWKSURI, "service-account-jwks-uri", o.JWKSURI, ""+
		"Overrides the URI for the JSON Web Key Set in the discovery doc served at /.well-known/openid-configuration. "+
		"Default: https://<external address>/openid/v1/jwks.")
	fs.BoolVar(&o.Lookup, "service-account-lookup", o.Lookup, ""+
		"If true, validate ServiceAccount tokens exist in etcd as part of authentication.")
}

// Validate checks what kube checks of the values.
func (o *Options) Validate() []error {
	var errs []error
	for _, iss := range o.Issuers {
		if iss == "" {
			errs = append(errs, errors.New("--service-account-issuer may not be empty"))
		}
	}
	if o.JWKSURI != "" {
		if u, err := url.Parse(o.JWKSURI); err != nil {
			errs = append(errs, fmt.Errorf("service-account-jwks-uri must be a valid URL: %v", err))
		} else if u.Scheme != "https" {
			errs = append(errs, fmt.Errorf("service-account-jwks-uri requires https scheme, parsed as: %v", u.String()))
		}
	}
	if o.MaxExpiration != 0 && (o.MaxExpiration < time.Hour || o.MaxExpiration > (1<<32)*time.Second) {
		errs = append(errs, errors.New("the service-account-max-token-expiration must be between 1 hour and 2^32 seconds"))
	}
	for _, f := range o.KeyFiles {
		if _, err := keyutil.PublicKeysFromFile(f); err != nil {
			errs = append(errs, fmt.Errorf("--service-account-key-file %s: %w", f, err))
		}
	}
	if o.SigningKeyFile != "" {
		if _, err := signingKey(o.SigningKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("--service-account-signing-key-file %s: %w", o.SigningKeyFile, err))
		}
	}
	return errs
}

// Config is what the options make: the generator of TokenRequests and the
// authenticator of their tokens.
type Config struct {
	Generator     *Generator
	Issuers       []string
	JWKSURI       string
	Keys          []crypto.PublicKey
	APIAudiences  authenticator.Audiences
	MaxExpiration time.Duration
	Extend        bool
}

// Complete reads the keys; the default signing key is generated into
// pkiDir (mode 0600) the first time.
func (o *Options) Complete(pkiDir string) (*Config, error) {
	issuers := o.Issuers
	if len(issuers) == 0 {
		issuers = []string{DefaultIssuer}
	}
	path := o.SigningKeyFile
	if path == "" {
		path = filepath.Join(pkiDir, "sa.key")
		if _, err := os.Stat(path); os.IsNotExist(err) {
			pem, err := keyutil.MakeEllipticPrivateKeyPEM()
			if err != nil {
				return nil, err
			}
			if err := keyutil.WriteKey(path, pem); err != nil {
				return nil, fmt.Errorf("service account signing key: %w", err)
			}
		}
	}
	key, err := signingKey(path)
	if err != nil {
		return nil, fmt.Errorf("service account signing key %s: %w", path, err)
	}
	gen, err := NewGenerator(issuers[0], key)
	if err != nil {
		return nil, fmt.Errorf("service account signing key %s: %w", path, err)
	}
	keys := []crypto.PublicKey{key.Public()}
	if len(o.KeyFiles) > 0 {
		keys = nil
		for _, f := range o.KeyFiles {
			ks, err := keyutil.PublicKeysFromFile(f)
			if err != nil {
				return nil, fmt.Errorf("--service-account-key-file %s: %w", f, err)
			}
			for _, k := range ks {
				keys = append(keys, k)
			}
		}
	}
	auds := o.APIAudiences
	if len(auds) == 0 {
		auds = issuers
	}
	return &Config{Generator: gen, Issuers: issuers, JWKSURI: o.JWKSURI, Keys: keys, APIAudiences: auds, MaxExpiration: o.MaxExpiration, Extend: o.ExtendExpiration}, nil
}

func signingKey(path string) (crypto.Signer, error) {
	k, err := keyutil.PrivateKeyFromFile(path)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("not a signing key: %T", k)
	}
	if _, err := signatureAlgorithm(signer); err != nil {
		return nil, err
	}
	return signer, nil
}
