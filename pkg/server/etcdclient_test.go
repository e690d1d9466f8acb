package server

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/kubernetes"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// The stores on the embedded member call it in process (no gRPC
// connection: etcd's v3client); a store on any other etcd dials it.
func TestStoresCallTheEmbeddedMemberInProcess(t *testing.T) {
	o, err := parseOptions(t)
	if err != nil {
		t.Fatal(err)
	}
	member, err := o.startEmbeddedEtcd(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(member.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := member.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s := &sharedETCD{member: member}
	shared, release, err := s.acquire(storagebackend.TransportConfig{ServerList: []string{member.ClientURL()}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if shared.client.ActiveConnection() != nil {
		t.Error("the stores on the embedded member dialed it")
	}
	got, err := shared.client.Kubernetes.Get(t.Context(), "/registry/none", kubernetes.GetOptions{})
	if err != nil || got.KV != nil || got.Revision == 0 {
		t.Errorf("a get through the stores' client: %+v, %v", got, err)
	}
}
