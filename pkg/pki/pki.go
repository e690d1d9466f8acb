// Package pki makes and keeps the certificates mini-apiserver generates for
// itself, its embedded etcd, the audit sink and tests: a CA, leaves signed by
// it, and load-or-create on disk. Reading and writing PEM is client-go's
// (util/cert, util/keyutil); what is ours is the choice of key (ECDSA P-256)
// and validity.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Generated keys are ECDSA P-256: as secure as RSA-3072 for this use and
// generated in well under a millisecond, which keeps first start fast.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// KeyPair is a certificate with its private key, in PEM and parsed.
type KeyPair struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
	Key             crypto.Signer
}

// TLSCertificate returns the pair for use in a tls.Config.
func (k *KeyPair) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(k.CertPEM, k.KeyPEM)
}

// Paths are where dir/name's certificate and key live.
func Paths(dir, name string) (certFile, keyFile string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// LoadCA reads the pair dir/name.crt, dir/name.key; both must exist.
func LoadCA(dir, name string) (*KeyPair, error) {
	certFile, keyFile := Paths(dir, name)
	kp, err := load(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !kp.Cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	return kp, nil
}

// LoadOrCreateCA reads dir/name.crt and dir/name.key, or creates a new CA
// there when neither exists.
func LoadOrCreateCA(dir, name, commonName string) (*KeyPair, error) {
	return loadOrCreate(dir, name, func() (*KeyPair, error) { return NewCA(commonName) })
}

// LoadOrCreateLeaf reads dir/name.crt and dir/name.key, or creates a
// certificate signed by ca there when neither exists.
func LoadOrCreateLeaf(dir, name string, ca *KeyPair, tmpl *x509.Certificate) (*KeyPair, error) {
	return loadOrCreate(dir, name, func() (*KeyPair, error) { return NewSigned(ca, tmpl) })
}

func loadOrCreate(dir, name string, create func() (*KeyPair, error)) (*KeyPair, error) {
	certPath, keyPath := Paths(dir, name)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		kp, err := load(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certPath, err)
		}
		return kp, nil
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
	case certErr != nil && !errors.Is(certErr, os.ErrNotExist):
		return nil, certErr
	case keyErr != nil && !errors.Is(keyErr, os.ErrNotExist):
		return nil, keyErr
	default:
		return nil, fmt.Errorf("%s and %s must both exist or both be absent", certPath, keyPath)
	}
	kp, err := create()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// keyutil writes 0600, certutil 0644.
	if err := keyutil.WriteKey(keyPath, kp.KeyPEM); err != nil {
		return nil, err
	}
	if err := certutil.WriteCert(certPath, kp.CertPEM); err != nil {
		return nil, err
	}
	return kp, nil
}

func load(certPath, keyPath string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: private key of type %T cannot sign", keyPath, key)
	}
	return &KeyPair{CertPEM: certPEM, KeyPEM: keyPEM, Cert: certs[0], Key: signer}, nil
}

// NewCA returns a new self-signed certificate authority.
func NewCA(commonName string) (*KeyPair, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(tmpl, nil)
}

// NewSigned returns a new leaf certificate from tmpl, signed by ca.
func NewSigned(ca *KeyPair, tmpl *x509.Certificate) (*KeyPair, error) {
	t := *tmpl
	now := time.Now()
	t.NotBefore, t.NotAfter = now.Add(-time.Hour), now.Add(leafValidity)
	t.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	t.BasicConstraintsValid = true
	return sign(&t, ca)
}

// ServingTemplate is a server certificate for the given hosts and IPs.
func ServingTemplate(commonName string, hosts []string, ips []net.IP) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    hosts,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// PeerTemplate is a certificate for both ends of TLS connections (etcd's
// members serve and dial with one certificate).
func PeerTemplate(commonName string, hosts []string, ips []net.IP) *x509.Certificate {
	t := ServingTemplate(commonName, hosts, ips)
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return t
}

// ClientTemplate is a client certificate whose CN is the user name and whose
// O entries are the groups, as kube's x509 authenticator reads them.
func ClientTemplate(user string, groups ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func sign(tmpl *x509.Certificate, ca *KeyPair) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: der}),
		KeyPEM:  keyPEM,
		Cert:    cert,
		Key:     key,
	}, nil
}
