package etcd

import (
	"fmt"
	"net"

	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// PKI is the embedded member's TLS: the files it serves with and the files
// the API server dials it with.
type PKI struct{ Server, Client TLSFiles }

// LoadOrCreatePKI creates (once) in dir the embedded etcd's own CA, serving
// and client certificates: no port of the process answers without TLS, and
// only the holder of a key in the data directory reaches the data.
func LoadOrCreatePKI(dir string) (PKI, error) {
	ca, err := pki.LoadOrCreateCA(dir, "etcd-ca", "mini-apiserver-etcd-ca")
	if err != nil {
		return PKI{}, fmt.Errorf("embedded etcd CA in %s: %w", dir, err)
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	if _, err := pki.LoadOrCreateLeaf(dir, "etcd-server", ca, pki.PeerTemplate("etcd", []string{"localhost"}, loopback)); err != nil {
		return PKI{}, fmt.Errorf("embedded etcd certificate in %s: %w", dir, err)
	}
	if _, err := pki.LoadOrCreateLeaf(dir, "etcd-client", ca, pki.ClientTemplate("mini-apiserver")); err != nil {
		return PKI{}, fmt.Errorf("embedded etcd client certificate in %s: %w", dir, err)
	}
	caFile, _ := pki.Paths(dir, "etcd-ca")
	files := func(name string) TLSFiles {
		cert, key := pki.Paths(dir, name)
		return TLSFiles{CertFile: cert, KeyFile: key, CAFile: caFile}
	}
	return PKI{Server: files("etcd-server"), Client: files("etcd-client")}, nil
}
