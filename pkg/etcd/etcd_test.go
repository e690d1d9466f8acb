package etcd

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The in-process client reaches a member that serves clients only over
// TLS with a certificate, without one: it calls the member's services, not
// its port. What the API server's stores do through it (reads, writes
// conditional on a revision, watches and their progress) works.
func TestInProcessClient(t *testing.T) {
	dir := t.TempDir()
	files, err := LoadOrCreatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{Dir: filepath.Join(dir, "etcd"), TLS: &files.Server, Disposable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c := s.InProcessClient()
	defer c.Close()
	if c.ActiveConnection() != nil {
		t.Error("the in-process client has a gRPC connection")
	}

	put, err := c.Put(ctx, "/registry/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	w := c.Watch(clientv3.WithRequireLeader(ctx), "/registry/", clientv3.WithPrefix(), clientv3.WithRev(put.Header.Revision+1), clientv3.WithProgressNotify())
	txn, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("/registry/a"), "=", put.Header.Revision)).
		Then(clientv3.OpPut("/registry/a", "2")).Commit()
	if err != nil || !txn.Succeeded {
		t.Fatalf("conditional update: succeeded %v, %v", txn != nil && txn.Succeeded, err)
	}
	got, err := c.Get(ctx, "/registry/a")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "2" {
		t.Fatalf("get after the update: %v, %v", got, err)
	}
	ev := <-w
	if err := ev.Err(); err != nil || len(ev.Events) != 1 || string(ev.Events[0].Kv.Value) != "2" {
		t.Fatalf("watch: %+v, %v", ev, err)
	}
	if err := c.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
		t.Fatalf("progress request: %v", err)
	}
	progress := <-w
	if !progress.IsProgressNotify() || progress.Header.Revision != txn.Header.Revision {
		t.Errorf("after the progress request: %+v, want a progress notification at revision %d", progress, txn.Header.Revision)
	}
}
