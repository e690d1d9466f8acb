// Package auth builds what the server needs to know who is calling and
// whether to allow it: generated certificates and credentials, the
// authenticator and the authorizer.
package auth

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
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		kp, err := parseKeyPair(certPEM, keyPEM)
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
	if err := os.WriteFile(keyPath, kp.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certPath, kp.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return kp, nil
}

func parseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return &KeyPair{CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert, Key: signer}, nil
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
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		Cert:    cert,
		Key:     key,
	}, nil
}
