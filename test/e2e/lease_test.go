package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
)

// Leases (coordination.k8s.io/v1) as kube serves them, and client-go's
// leader election against them: a controller under test elects itself.
func TestLeases(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	_, err := client.CoordinationV1().Leases("default").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](0)}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, `Lease.coordination.k8s.io "bad" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0`)

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: "my-controller"},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "replica-1"},
	}
	leading := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 100 * time.Millisecond,
		Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) { close(leading) }, OnStoppedLeading: func() {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	go elector.Run(ctx)
	select {
	case <-leading:
	case <-time.After(waitLong):
		t.Fatal("leader election did not elect replica-1")
	}
	lease, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "my-controller", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "replica-1" {
		t.Fatalf("lease after election: %v %+v", err, lease)
	}
	// Beside the server's own identity Lease, as on kube-apiserver.
	if out := s.Kubectl("get", "leases", "-n", "kube-system"); !regexpMatch(`^NAME\s+HOLDER\s+AGE\napiserver-[a-z0-9]+\s+apiserver-[a-z0-9]+_[-0-9a-f]+\s+\S+\nmy-controller\s+replica-1\s+\S+\n$`, out) {
		t.Errorf("kubectl get leases:\n%s", out)
	}
	if out := s.Kubectl("explain", "lease.spec.holderIdentity"); !regexpMatch(`(?s)FIELD: holderIdentity <string>.*holderIdentity contains the identity of the holder`, out) {
		t.Errorf("kubectl explain:\n%s", out)
	}
}
