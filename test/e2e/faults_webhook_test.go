package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// steadyLoad creates pods from `workers` goroutines until stop is closed and
// returns how many were acknowledged.
func steadyLoad(t *testing.T, client kubernetes.Interface, ns string, workers int, stop <-chan struct{}) *int64 {
	t.Helper()
	var acked int64
	var n int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := atomic.AddInt64(&n, 1)
				if _, err := client.CoreV1().Pods(ns).Create(context.Background(), newPod(ns, fmt.Sprintf("load-%05d", i)), metav1.CreateOptions{}); err == nil {
					atomic.AddInt64(&acked, 1)
				}
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return &acked
}

// A webhook outage shorter than the retry budget loses nothing and
// duplicates nothing.
func TestFaultWebhookShortOutage(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("load", auditv1.LevelMetadata)), "--audit-log-path="+log,
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-batch-max-wait=200ms", "--audit-webhook-initial-backoff=500ms")
	createNamespace(t, s.Client(), "load")
	stop := make(chan struct{})
	steadyLoad(t, s.Client(), "load", 4, stop)
	time.Sleep(500 * time.Millisecond) // load before the outage: a duration of the scenario, not a condition
	if err := snk.Down(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the outage (retry budget: 0.5+0.75+1.1+1.7 s)
	if err := snk.Up(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)

	logged := waitStable(t, func() int { evs, _ := expect.ReadFile(log); return len(evs) })
	all, err := expect.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "every logged event at the sink", func() (bool, error) {
		return len(snk.Events()) >= logged, nil
	})
	got := eventKeys(snk.Events())
	for k, n := range got {
		if n != 1 {
			t.Errorf("event %s delivered %d times", k, n)
		}
	}
	for k := range eventKeys(all) {
		if got[k] != 1 {
			t.Errorf("event %s never reached the sink", k)
		}
	}
	if logged < 50 {
		t.Errorf("only %d events: the load was too light to mean anything", logged)
	}
	if got := metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`); got != 0 {
		t.Errorf("apiserver_audit_error_total{plugin=\"webhook\"} = %v after a short outage", got)
	}
}

// waitStable polls count until it stops changing for half a second.
func waitStable(t *testing.T, count func() int) int {
	t.Helper()
	last, since := -1, time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := count(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("count still changing after 60s (%d)", last)
	return last
}

var pluginErrorLine = regexp.MustCompile(`Error in audit plugin '(\w+)' affecting (\d+) audit events`)

// loggedPluginErrors sums the events the server logged as failed, per plugin.
func loggedPluginErrors(stderr string) map[string]int {
	sums := map[string]int{}
	for _, m := range pluginErrorLine.FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.Atoi(m[2])
		sums[m[1]] += n
	}
	return sums
}

// An outage longer than the retry budget, with a small buffer: events that
// never arrive equal exactly what the server counted and logged.
func TestFaultWebhookLongOutageIsCounted(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("load", auditv1.LevelMetadata)), "--audit-log-path="+log,
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-batch-max-wait=100ms", "--audit-webhook-batch-max-size=10",
		"--audit-webhook-batch-buffer-size=50", "--audit-webhook-initial-backoff=20ms")
	createNamespace(t, s.Client(), "load")
	if err := snk.Down(); err != nil {
		t.Fatal(err)
	}
	createPods(t, s.Client(), "load", 300, 8, 0)
	// Keep the sink down until batches have exhausted their retries.
	eventually(t, 60*time.Second, "webhook failures after the retry budget", func() (bool, error) {
		return metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`) > 0, nil
	})
	if err := snk.Up(); err != nil {
		t.Fatal(err)
	}
	logged := waitStable(t, func() int { evs, _ := expect.ReadFile(log); return len(evs) })
	var failedWebhook, dropped float64
	waitStable(t, func() int {
		failedWebhook = metric(t, s, `apiserver_audit_error_total{plugin="webhook"}`)
		dropped = metric(t, s, `apiserver_audit_error_total{plugin="buffered"}`)
		return len(snk.Events()) + int(failedWebhook) + int(dropped)
	})
	arrived := len(snk.Events())
	if failedWebhook == 0 {
		t.Errorf("no webhook failures counted during a long outage")
	}
	if int(failedWebhook+dropped)+arrived != logged {
		t.Errorf("logged %d events; %d arrived + %v failed (webhook) + %v dropped (buffer) = %v: something vanished uncounted",
			logged, arrived, failedWebhook, dropped, float64(arrived)+failedWebhook+dropped)
	}
	sums := loggedPluginErrors(s.Stderr())
	if float64(sums["webhook"]) != failedWebhook || float64(sums["buffered"]) != dropped {
		t.Errorf("server log counts %v, metrics webhook=%v buffered=%v", sums, failedWebhook, dropped)
	}
}

// blocking-strict with a flapping sink: zero unaudited writes.
func TestFaultBlockingStrictFlappingSink(t *testing.T) {
	t.Parallel()
	snk := startSink(t, false)
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("strict", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+snk.Config, "--audit-webhook-mode=blocking-strict", "--audit-webhook-initial-backoff=5ms")
	createNamespace(t, s.Client(), "strict")
	ctx := context.Background()

	stopFlap := make(chan struct{})
	flapped := make(chan int)
	go func() {
		r := rand.New(rand.NewSource(1))
		toggles := 0
		for {
			select {
			case <-stopFlap:
				_ = snk.Up()
				flapped <- toggles
				return
			case <-time.After(time.Duration(10+r.Intn(60)) * time.Millisecond):
			}
			if toggles%2 == 0 {
				_ = snk.Down()
			} else {
				_ = snk.Up()
			}
			toggles++
		}
	}()

	const requests = 1000
	var mu sync.Mutex
	acked, refused := map[string]bool{}, map[string]bool{}
	var wg sync.WaitGroup
	next := make(chan int)
	rc := s.Client().CoreV1().RESTClient()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				name := fmt.Sprintf("p-%04d", i)
				err := rc.Post().Namespace("strict").Resource("pods").SetHeader("Audit-ID", "create-"+name).
					Body(mustJSON(t, newPod("strict", name))).Do(ctx).Error()
				mu.Lock()
				switch {
				case err == nil:
					acked[name] = true
				case apierrors.IsInternalError(err) && strings.Contains(err.Error(), "failed to store audit event"):
					refused[name] = true
				default:
					t.Errorf("create %s: unexpected %v", name, err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < requests; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(stopFlap)
	toggles := <-flapped
	if len(refused) == 0 || len(acked) == 0 || toggles < 10 {
		t.Fatalf("%d acknowledged, %d refused over %d toggles: the sink did not flap enough to test anything", len(acked), len(refused), toggles)
	}

	list, err := s.Client().CoreV1().Pods("strict").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	received := map[string]bool{}
	for _, e := range snk.Events() {
		if e.Stage == auditv1.StageRequestReceived {
			received[string(e.AuditID)] = true
		}
	}
	stored := map[string]bool{}
	for _, p := range list.Items {
		stored[p.Name] = true
		if !received["create-"+p.Name] {
			t.Errorf("pod %s exists but its RequestReceived event never reached the sink: an unaudited write", p.Name)
		}
	}
	for name := range refused {
		if stored[name] {
			t.Errorf("pod %s was refused for audit but is stored", name)
		}
	}
	for name := range acked {
		if !stored[name] {
			_, err := s.Client().CoreV1().Pods("strict").Get(ctx, name, metav1.GetOptions{})
			t.Errorf("pod %s was acknowledged but is not stored (%v)", name, apierrors.IsNotFound(err))
		}
	}
	t.Logf("%d requests: %d stored, %d refused for audit, sink toggled %d times", requests, len(acked), len(refused), toggles)
}
