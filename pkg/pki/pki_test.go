package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateReusesFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := LoadOrCreateLeaf(dir, "server", ca, ServingTemplate("s", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}))
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateLeaf(dir, "server", ca, ServingTemplate("other", nil, nil))
	if err != nil || string(again.CertPEM) != string(leaf.CertPEM) {
		t.Fatalf("existing certificate not reused: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Errorf("leaf does not verify against its CA: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "server.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %o", st.Mode().Perm())
	}
	if err := os.Remove(filepath.Join(dir, "server.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateLeaf(dir, "server", ca, ServingTemplate("s", nil, nil)); err == nil {
		t.Errorf("a certificate without its key was accepted")
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCA(dir, "ca")
	if err != nil || !loaded.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
	if _, err := LoadOrCreateLeaf(dir, "leaf", ca, ClientTemplate("alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(dir, "leaf"); err == nil {
		t.Errorf("a leaf certificate was loaded as a CA")
	}
	if _, err := LoadCA(dir, "missing"); err == nil {
		t.Errorf("a missing CA was loaded")
	}
}

func TestClientTemplateIdentity(t *testing.T) {
	ca, err := NewCA("client-ca")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewSigned(ca, ClientTemplate("alice", "devs", "ops"))
	if err != nil {
		t.Fatal(err)
	}
	if cred.Cert.Subject.CommonName != "alice" || len(cred.Cert.Subject.Organization) != 2 {
		t.Errorf("subject %v", cred.Cert.Subject)
	}
}
