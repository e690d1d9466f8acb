package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
)

// What the x509 authenticator pays on every request, by the CA's key type:
// verifying a client certificate against the client CA. The generated CA is
// ECDSA P-256 (NewCA); RSA-2048 is what a kubeadm cluster's CA uses.
func benchmarkVerifyClientCert(b *testing.B, ca *KeyPair) {
	leaf, err := NewSigned(ca, ClientTemplate("alice", "dev"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for b.Loop() {
		if _, err := leaf.Cert.Verify(opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyClientCertECDSACA(b *testing.B) {
	ca, err := NewCA("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkVerifyClientCert(b, ca)
}

func BenchmarkVerifyClientCertRSACA(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := NewCA("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	// The same CA certificate re-issued for an RSA key.
	tmpl := *ca.Cert
	tmpl.SignatureAlgorithm, tmpl.SubjectKeyId, tmpl.PublicKey = x509.UnknownSignatureAlgorithm, nil, key.Public()
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkVerifyClientCert(b, &KeyPair{Cert: cert, Key: key})
}

// The price of a key, paid once per fresh data directory.
func BenchmarkGenerateKeyECDSAP256(b *testing.B) {
	for b.Loop() {
		if _, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerateKeyRSA2048(b *testing.B) {
	for b.Loop() {
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			b.Fatal(err)
		}
	}
}
