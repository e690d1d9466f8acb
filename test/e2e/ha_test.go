package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// haWriteOutcome is what a writer knows of one create it sent.
type haWriteOutcome int

const (
	// acknowledged: 201; the object must exist and its ResponseComplete be
	// in the log of the server it was sent to.
	acknowledged haWriteOutcome = iota
	// refused: never sent (the server was down) or answered 4xx; the object
	// must not exist.
	refused
	// unknown: a 5xx, or the connection ended without an answer (a server
	// killed, an etcd member lost): the object may exist.
	unknown
)

type haWrite struct {
	name, auditID, server string
	outcome               haWriteOutcome
	code                  int
}

// haWriters create ConfigMaps through both servers, each request with its
// own Audit-ID (kube-apiserver takes the client's), until stopped.
type haWriters struct {
	mu     sync.Mutex
	writes []haWrite
	acked  int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startHAWriters(t *testing.T, cfg *rest.Config, servers map[string]string, perServer int) *haWriters {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	mustDo(t, err)
	httpClient.Timeout = 20 * time.Second
	w := &haWriters{stop: make(chan struct{})}
	for name, url := range servers {
		for i := 0; i < perServer; i++ {
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				// A bounded rate, not a wait for a condition: the test's load.
				tick := time.NewTicker(15 * time.Millisecond)
				defer tick.Stop()
				for n := 0; ; n++ {
					select {
					case <-w.stop:
						return
					case <-tick.C:
					}
					w.record(create(httpClient, url, name, fmt.Sprintf("%s-%d-%d", name, i, n)))
				}
			}()
		}
	}
	return w
}

func create(client *http.Client, url, server, name string) haWrite {
	w := haWrite{name: name, auditID: string(uuid.NewUUID()), server: server}
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"k":"v"}}`, name)
	req, err := http.NewRequest(http.MethodPost, url+"/api/v1/namespaces/ha/configmaps", bytes.NewBufferString(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Audit-ID", w.auditID)
	res, err := client.Do(req)
	switch {
	case err != nil && strings.Contains(err.Error(), "connection refused"):
		w.outcome = refused
	case err != nil:
		w.outcome = unknown
	default:
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		w.code = res.StatusCode
		switch {
		case res.StatusCode == http.StatusCreated:
			w.outcome = acknowledged
		case res.StatusCode < 500:
			w.outcome = refused
		default:
			w.outcome = unknown
		}
	}
	return w
}

func (w *haWriters) record(write haWrite) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, write)
	if write.outcome == acknowledged {
		w.acked++
	}
}

func (w *haWriters) acknowledged() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// progress waits until n more creates have been acknowledged: the load goes
// on through whatever just happened.
func (w *haWriters) progress(t *testing.T, n int, after string) {
	t.Helper()
	target := w.acknowledged() + n
	eventually(t, 60*time.Second, fmt.Sprintf("%d more acknowledged creates after %s", n, after), func() (bool, error) {
		return w.acknowledged() >= target, nil
	})
}

func (w *haWriters) finish() []haWrite {
	close(w.stop)
	w.wg.Wait()
	return w.writes
}

// haServer is one API server of the HA test: ours (a harness server) or
// kube-apiserver, to show the test is fair.
type haServer interface {
	URL() string
	Signal(os.Signal) error
	Done() <-chan struct{}
	Err() error
	Restart(ctx context.Context) error
	ReadyStatus(ctx context.Context) int
	AuditLog() string
	AuditEvents() ([]auditv1.Event, error)
	Stderr() string
}

// haPolicy records every request's metadata.
const haPolicy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"

// haShutdownFlags are kube's graceful termination flags as a load balancer
// in front needs them.
var haShutdownFlags = []string{"--shutdown-delay-duration=2s", "--shutdown-send-retry-after=true"}

// TestHighAvailability: two servers on a three-member etcd cluster with
// mutual TLS, writers through both, then an etcd follower and the leader
// killed and restarted, one server stopped with SIGTERM and the other
// killed, each restarted. Nothing acknowledged is lost, nothing refused is
// written, and every acknowledged create has exactly one ResponseComplete,
// in the log of the server that answered it.
func TestHighAvailability(t *testing.T) {
	t.Parallel()
	runHighAvailability(t, startOurHAServers, 1)
}

// TestSoakHighAvailability is TestHighAvailability's faults round after
// round (make soak: SOAK_HA_ROUNDS, default 10).
func TestSoakHighAvailability(t *testing.T) {
	if os.Getenv("SOAK_DURATION") == "" {
		t.Skip("set SOAK_DURATION (make soak) to run the soak")
	}
	rounds := 10
	if r := os.Getenv("SOAK_HA_ROUNDS"); r != "" {
		var err error
		if rounds, err = strconv.Atoi(r); err != nil {
			t.Fatalf("SOAK_HA_ROUNDS: %v", err)
		}
	}
	runHighAvailability(t, startOurHAServers, rounds)
}

// startOurHAServers starts two of our servers on the cluster, b with a's
// credentials, each with its own identity; the client is a's admin.
func startOurHAServers(t *testing.T, cluster *harness.EtcdCluster) (a, b haServer, cfg *rest.Config) {
	flags := func(host string) []string {
		return append(append(cluster.ServerFlags(), "--identity-hostname="+host, fmt.Sprintf("--secure-port=%d", freePort(t))), haShutdownFlags...)
	}
	sa := startServerOpts(t, harness.Options{Policy: haPolicy, Flags: flags("control-plane-a")})
	sb := startServerOpts(t, harness.Options{Policy: haPolicy, CredentialsFrom: sa.DataDir(), Flags: flags("control-plane-b")})
	return sa, sb, sa.RESTConfig()
}

func runHighAvailability(t *testing.T, start func(*testing.T, *harness.EtcdCluster) (a, b haServer, cfg *rest.Config), rounds int) {
	ctx := context.Background()
	cluster, err := harness.StartEtcdCluster(ctx, harness.EtcdClusterOptions{Binary: etcdBin, Dir: t.TempDir()})
	mustDo(t, err)
	t.Cleanup(cluster.Stop)
	a, b, cfg := start(t, cluster)
	_, ours := a.(*apiServer)
	// One credential for both: a's admin on b.
	onB := rest.CopyConfig(cfg)
	onB.Host = b.URL()
	clientB, err := kubernetes.NewForConfig(onB)
	mustDo(t, err)
	_, err = clientB.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ha"}}, metav1.CreateOptions{})
	mustDo(t, err)

	t.Run("identity leases", func(t *testing.T) {
		if !ours {
			t.Skip("kube-apiservers on one host share one identity")
		}
		hosts := map[string]string{}
		eventually(t, 30*time.Second, "an identity Lease of each server in kube-system", func() (bool, error) {
			leases, err := clientB.CoordinationV1().Leases("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "apiserver.kubernetes.io/identity=kube-apiserver"})
			if err != nil {
				return false, err
			}
			clear(hosts)
			for _, l := range leases.Items {
				hosts[l.Labels["kubernetes.io/hostname"]] = l.Name
				if l.Spec.HolderIdentity == nil || !strings.HasPrefix(*l.Spec.HolderIdentity, l.Name+"_") {
					return false, fmt.Errorf("lease %s held by %v, want %s_<uuid>", l.Name, l.Spec.HolderIdentity, l.Name)
				}
				if l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds != 3600 {
					return false, fmt.Errorf("lease %s lasts %v s, want kube's 3600", l.Name, l.Spec.LeaseDurationSeconds)
				}
			}
			return len(hosts) == 2 && hosts["control-plane-a"] != "" && hosts["control-plane-b"] != "", nil
		})
		if hosts["control-plane-a"] == hosts["control-plane-b"] || !strings.HasPrefix(hosts["control-plane-a"], "apiserver-") {
			t.Errorf("identity leases %v, want two apiserver-<hash> names", hosts)
		}
	})

	writers := startHAWriters(t, cfg, map[string]string{"a": a.URL(), "b": b.URL()}, 2)
	writers.progress(t, 30, "the start")

	for round := 0; round < rounds; round++ {
		t.Logf("round %d of %d: %d creates acknowledged so far", round+1, rounds, writers.acknowledged())
		// An etcd follower, then the leader: killed, the load goes on, restarted
		// on their data.
		leader, err := cluster.Leader(ctx, 30*time.Second)
		mustDo(t, err)
		var follower *harness.Etcd
		for _, m := range cluster.Members {
			if m != leader {
				follower = m
				break
			}
		}
		follower.Kill()
		writers.progress(t, 30, "SIGKILL of etcd follower "+follower.Name())
		mustDo(t, follower.Restart(ctx))
		writers.progress(t, 30, "the follower's restart")
		leader.Kill()
		writers.progress(t, 30, "SIGKILL of etcd leader "+leader.Name())
		mustDo(t, leader.Restart(ctx))
		writers.progress(t, 30, "the old leader's restart")

		// Server a stopped gracefully: /readyz fails first while it still
		// serves, then it exits 0 with every request it took audited.
		mustDo(t, a.Signal(syscall.SIGTERM))
		eventually(t, 10*time.Second, "a's /readyz answering 500 (shutting down) after SIGTERM", func() (bool, error) {
			return a.ReadyStatus(ctx) == http.StatusInternalServerError, nil
		})
		<-a.Done()
		if err := a.Err(); err != nil {
			t.Errorf("server a after SIGTERM: %v, want exit 0\n%s", err, a.Stderr())
		}
		writers.progress(t, 20, "server a's exit")
		// A graceful stop deletes the server's identity Lease; a server that
		// died leaves its own, which every server's collector deletes once it
		// has expired (kube's apiserverleasegc, run at start and hourly).
		leaseOf := func(host string) bool {
			leases, err := clientB.CoordinationV1().Leases("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/hostname=" + host})
			mustDo(t, err)
			return len(leases.Items) > 0
		}
		gone := fmt.Sprintf("gone-%d", round)
		if ours {
			if leaseOf("control-plane-a") {
				t.Errorf("the identity Lease of server a is still there after its graceful stop")
			}
			expired := metav1.NewMicroTime(time.Now().Add(-2 * time.Hour))
			_, err = clientB.CoordinationV1().Leases("kube-system").Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "apiserver-" + gone, Labels: map[string]string{"apiserver.kubernetes.io/identity": "kube-apiserver", "kubernetes.io/hostname": gone}},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("apiserver-gone_1"), LeaseDurationSeconds: ptr.To[int32](3600), RenewTime: &expired},
			}, metav1.CreateOptions{})
			mustDo(t, err)
		}
		mustDo(t, a.Restart(ctx))
		writers.progress(t, 30, "server a's restart")
		if ours {
			eventually(t, 30*time.Second, "the expired identity Lease collected and server a's back", func() (bool, error) {
				return !leaseOf(gone) && leaseOf("control-plane-a"), nil
			})
		}

		// Server b killed mid-load.
		mustDo(t, b.Signal(syscall.SIGKILL))
		<-b.Done()
		writers.progress(t, 20, "SIGKILL of server b")
		mustDo(t, b.Restart(ctx))
		writers.progress(t, 30, "server b's restart")
	}
	writes := writers.finish()

	mustDo(t, cluster.WaitConsistent(ctx, 30*time.Second))
	cms, err := clientB.CoreV1().ConfigMaps("ha").List(ctx, metav1.ListOptions{})
	mustDo(t, err)
	exists := map[string]bool{}
	for _, cm := range cms.Items {
		exists[cm.Name] = true
	}
	logs := map[string][]auditv1.Event{}
	for name, s := range map[string]haServer{"a": a, "b": b} {
		events, err := s.AuditEvents()
		mustDo(t, err)
		logs[name] = events
	}
	// Per server, per Audit-ID: its stages.
	stages := map[string]map[string][]auditv1.Stage{}
	for server, events := range logs {
		stages[server] = map[string][]auditv1.Stage{}
		for _, e := range events {
			stages[server][string(e.AuditID)] = append(stages[server][string(e.AuditID)], e.Stage)
		}
	}
	count := func(server, id string, stage auditv1.Stage) int {
		n := 0
		for _, s := range stages[server][id] {
			if s == stage {
				n++
			}
		}
		return n
	}
	var byOutcome [3]int
	var open, unknownWritten int
	for _, w := range writes {
		byOutcome[w.outcome]++
		other := map[string]string{"a": "b", "b": "a"}[w.server]
		if len(stages[other][w.auditID]) > 0 {
			t.Errorf("create %s (Audit-ID %s) sent to %s is in %s's log too", w.name, w.auditID, w.server, other)
		}
		switch w.outcome {
		case acknowledged:
			if !exists[w.name] {
				t.Errorf("acknowledged create %s through %s is lost", w.name, w.server)
			}
			if n := count(w.server, w.auditID, auditv1.StageResponseComplete); n != 1 {
				t.Errorf("acknowledged create %s (Audit-ID %s) has %d ResponseComplete events in %s's log, want 1", w.name, w.auditID, n, w.server)
			}
		case refused:
			if exists[w.name] {
				t.Errorf("create %s through %s was refused (%d) but exists", w.name, w.server, w.code)
			}
		case unknown:
			if exists[w.name] {
				unknownWritten++
			}
			complete := count(w.server, w.auditID, auditv1.StageResponseComplete)
			if w.code != 0 && complete != 1 {
				// The server answered (a 5xx): it was alive to audit it.
				t.Errorf("create %s answered %d by %s has %d ResponseComplete events, want 1", w.name, w.code, w.server, complete)
			}
			if complete == 0 && count(w.server, w.auditID, auditv1.StageRequestReceived) == 1 {
				open++
			}
		}
	}
	// Server a was only ever stopped gracefully: nothing it took is open.
	for id, s := range stages["a"] {
		if len(s) == 1 && s[0] == auditv1.StageRequestReceived {
			t.Errorf("Audit-ID %s has RequestReceived but no ResponseComplete in a's log, which a SIGTERM must not leave", id)
		}
	}
	if byOutcome[acknowledged] == 0 || len(exists) < byOutcome[acknowledged] {
		t.Errorf("%d acknowledged creates, %d ConfigMaps", byOutcome[acknowledged], len(exists))
	}
	// auditctl view merges the two logs in time order, each line naming
	// the log it came from.
	out, err := exec.Command(auditctlBin, "view", "--log", a.AuditLog(), "--log", b.AuditLog(), "--stage", "ResponseComplete", "--verb", "create", "--namespace", "ha").Output()
	mustDo(t, err)
	lines := map[string]int{}
	last := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		label, rest, _ := strings.Cut(line, " ")
		lines[label]++
		// HH:MM:SS.mmm in UTC: a run across midnight starts again at 00.
		if ts := strings.Fields(rest)[0]; ts < last && !(strings.HasPrefix(last, "23:") && strings.HasPrefix(ts, "00:")) {
			t.Errorf("auditctl view: %s after %s: not in time order", ts, last)
		} else {
			last = ts
		}
	}
	for server, s := range map[string]haServer{"a": a, "b": b} {
		want := 0
		for _, e := range logs[server] {
			if e.Stage == auditv1.StageResponseComplete && e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Namespace == "ha" {
				want++
			}
		}
		if got := lines["["+s.AuditLog()+"]"]; got != want || want == 0 {
			t.Errorf("auditctl view --log a --log b: %d lines of %s's log, want %d", got, server, want)
		}
	}
	t.Logf("%d creates: %d acknowledged, %d refused, %d unknown (%d of them written, %d open in b's log: RequestReceived, no ResponseComplete, when b was killed)",
		len(writes), byOutcome[acknowledged], byOutcome[refused], byOutcome[unknown], unknownWritten, open)
}
