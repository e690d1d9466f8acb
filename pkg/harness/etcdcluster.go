package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	etcdtransport "go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mini-apiserver/mini-apiserver/pkg/etcd"
)

// EtcdClusterOptions configure an etcd cluster of real members on loopback,
// with mutual TLS for clients and between members, as kubeadm's stacked etcd
// of an HA control plane runs.
type EtcdClusterOptions struct {
	// Binary is the etcd executable (make tools builds bin/etcd).
	Binary string
	// Members is the cluster's size; default 3.
	Members int
	// Dir holds each member's data (Dir/etcd-<i>) and the cluster's
	// certificates (Dir/pki); a restarted member keeps its data.
	Dir string
	// ReadyTimeout bounds the start of each member; default 60s.
	ReadyTimeout time.Duration
}

// EtcdCluster is a running etcd cluster: its members can be stopped,
// killed and restarted one by one.
type EtcdCluster struct {
	Members []*Etcd
	tls     EtcdTLS
}

// StartEtcdCluster starts the members together (each serves once a quorum
// has formed) and returns once every one serves a quorum read.
func StartEtcdCluster(ctx context.Context, opts EtcdClusterOptions) (*EtcdCluster, error) {
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.Dir == "" {
		return nil, errors.New("etcd cluster: no Dir given")
	}
	files, err := etcd.LoadOrCreatePKI(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("etcd cluster: %w", err)
	}
	tls := EtcdTLS{CertFile: files.Server.CertFile, KeyFile: files.Server.KeyFile, TrustedCAFile: files.Server.CAFile,
		ClientCertFile: files.Client.CertFile, ClientKeyFile: files.Client.KeyFile}
	// Another process may take a port FreePort chose before a member binds
	// it: the cluster, not started yet, starts again on new ports.
	for attempt := 1; ; attempt++ {
		c, err := startEtcdCluster(ctx, opts, tls)
		if err == nil || attempt == portAttempts || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
		for i := 0; i < opts.Members; i++ {
			if err := os.RemoveAll(filepath.Join(opts.Dir, memberName(i))); err != nil {
				return nil, fmt.Errorf("etcd cluster: %w", err)
			}
		}
	}
}

// memberName is member i's name, and its data directory's in Dir.
func memberName(i int) string { return fmt.Sprintf("etcd-%d", i) }

func startEtcdCluster(ctx context.Context, opts EtcdClusterOptions, tls EtcdTLS) (*EtcdCluster, error) {
	c := &EtcdCluster{tls: tls}
	var peers []string
	for i := 0; i < opts.Members; i++ {
		name := memberName(i)
		m, err := newEtcdMember(EtcdOptions{Binary: opts.Binary, DataDir: filepath.Join(opts.Dir, name), ReadyTimeout: opts.ReadyTimeout, TLS: &c.tls}, name, true)
		if err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
		peers = append(peers, name+"="+m.peerURL)
	}
	errs := make([]error, len(c.Members))
	var wg sync.WaitGroup
	for i, m := range c.Members {
		m.initialCluster = strings.Join(peers, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.start(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Stop()
		return nil, fmt.Errorf("etcd cluster: %w", err)
	}
	return c, nil
}

// Endpoints are the members' client URLs.
func (c *EtcdCluster) Endpoints() []string {
	var urls []string
	for _, m := range c.Members {
		urls = append(urls, m.URL())
	}
	return urls
}

// TLS are the cluster's certificates: the CA and a client certificate an
// API server dials it with.
func (c *EtcdCluster) TLS() EtcdTLS { return c.tls }

// ServerFlags are the kube-apiserver flags that put a server on the
// cluster: every member, the CA and the client certificate.
func (c *EtcdCluster) ServerFlags() []string {
	return []string{"--etcd-servers=" + strings.Join(c.Endpoints(), ","), "--etcd-cafile=" + c.tls.TrustedCAFile,
		"--etcd-certfile=" + c.tls.ClientCertFile, "--etcd-keyfile=" + c.tls.ClientKeyFile}
}

// Stop stops every member still running.
func (c *EtcdCluster) Stop() {
	for _, m := range c.Members {
		if m.Running() {
			m.Stop()
		}
	}
}

// MemberStatus is what a running member says of itself.
type MemberStatus struct {
	Member *Etcd
	// ID is the member's ID in the cluster, Leader the leader's as it sees it.
	ID, Leader uint64
	// Revision is its store's revision; Hash the hash of its keys at
	// HashRevision (etcd's HashKV).
	Revision, HashRevision int64
	Hash                   uint32
}

// Status asks every running member for its status and the hash of its keys.
func (c *EtcdCluster) Status(ctx context.Context) ([]MemberStatus, error) {
	client, err := c.client()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	return c.statuses(ctx, client, true)
}

// statuses asks every running member through client for its status and,
// with hash, the hash of its keys (etcd reads every key for it).
func (c *EtcdCluster) statuses(ctx context.Context, client *clientv3.Client, hash bool) ([]MemberStatus, error) {
	var out []MemberStatus
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := client.Status(ctx, m.URL())
		if err != nil {
			return nil, fmt.Errorf("etcd %s status: %w", m.name, err)
		}
		ms := MemberStatus{Member: m, ID: st.Header.MemberId, Leader: st.Leader, Revision: st.Header.Revision}
		if hash {
			h, err := client.HashKV(ctx, m.URL(), 0)
			if err != nil {
				return nil, fmt.Errorf("etcd %s hash: %w", m.name, err)
			}
			ms.HashRevision, ms.Hash = h.Header.Revision, h.Hash
		}
		out = append(out, ms)
	}
	return out, nil
}

// Leader is the member every running member names as leader, waiting up to
// timeout for them to agree on one (an election after a leader died).
func (c *EtcdCluster) Leader(ctx context.Context, timeout time.Duration) (*Etcd, error) {
	client, err := c.client()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var leader *Etcd
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		sts, err := c.statuses(ctx, client, false)
		if lastErr = err; err != nil || len(sts) == 0 {
			return false, nil
		}
		leader = nil
		for _, st := range sts {
			if st.Leader == 0 || st.Leader != sts[0].Leader {
				lastErr = fmt.Errorf("members disagree on the leader")
				return false, nil
			}
			if st.ID == st.Leader {
				leader = st.Member
			}
		}
		return leader != nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("etcd cluster: no leader within %s: %v", timeout, lastErr)
	}
	return leader, nil
}

// WaitConsistent waits up to timeout until every running member is at the
// same revision with the same hash of its keys, and says which differ if
// they do not.
func (c *EtcdCluster) WaitConsistent(ctx context.Context, timeout time.Duration) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	defer client.Close()
	var last []MemberStatus
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if last, lastErr = c.statuses(ctx, client, true); lastErr != nil {
			return false, nil
		}
		for _, st := range last[1:] {
			if st.Revision != last[0].Revision || st.HashRevision != last[0].HashRevision || st.Hash != last[0].Hash {
				return false, nil
			}
		}
		return true, nil
	})
	if err == nil {
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("etcd cluster not consistent within %s: %v", timeout, lastErr)
	}
	var parts []string
	for _, st := range last {
		parts = append(parts, fmt.Sprintf("%s: revision %d, hash %d at %d", st.Member.name, st.Revision, st.Hash, st.HashRevision))
	}
	return fmt.Errorf("etcd cluster not consistent within %s: %s", timeout, strings.Join(parts, "; "))
}

func (c *EtcdCluster) client() (*clientv3.Client, error) {
	tlsConfig, err := (etcdtransport.TLSInfo{CertFile: c.tls.ClientCertFile, KeyFile: c.tls.ClientKeyFile, TrustedCAFile: c.tls.TrustedCAFile}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd cluster client TLS: %w", err)
	}
	var endpoints []string
	for _, m := range c.Members {
		if m.Running() {
			endpoints = append(endpoints, m.URL())
		}
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tlsConfig, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd cluster client: %w", err)
	}
	return client, nil
}
