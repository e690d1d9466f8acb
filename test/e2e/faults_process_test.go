package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
)

// loadUntil creates pods from workers until stop, recording acknowledged names.
func loadUntil(client kubernetes.Interface, ns string, workers int, stop <-chan struct{}) (*sync.Map, *sync.WaitGroup) {
	var acked sync.Map
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%05d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.CoreV1().Pods(ns).Create(ctx, newPod(ns, name), metav1.CreateOptions{})
				cancel()
				if err == nil {
					acked.Store(name, true)
				}
			}
		}(w)
	}
	return &acked, &wg
}

func TestFaultKillDashNine(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	logDir := filepath.Join(t.TempDir(), "audit")
	args := []string{"--data-dir=" + dataDir, "--audit-policy-file=" + writePolicy(t, nsPolicy("load", auditv1.LevelRequestResponse)),
		"--audit-log-path=" + filepath.Join(logDir, "audit.log"), "--audit-log-maxsize=1"}
	s := startServer(t, args...)
	createNamespace(t, s.Client(), "load")
	stop := make(chan struct{})
	acked, wg := loadUntil(s.Client(), "load", 8, stop)
	eventually(t, 60*time.Second, "some acknowledged writes", func() (bool, error) {
		n := 0
		acked.Range(func(_, _ any) bool { n++; return true })
		return n >= 200, nil
	})
	if err := s.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	close(stop)
	wg.Wait()

	// The log, as the killed process left it.
	files, _ := filepath.Glob(filepath.Join(logDir, "*"))
	events, problems, err := logview.ReadFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	report := logview.Verify(events, problems, nil)
	torn, unfinished := 0, 0
	for _, p := range report.Problems {
		switch {
		case strings.Contains(p.Message, "torn last line"):
			torn++
			if p.File != filepath.Join(logDir, "audit.log") {
				t.Errorf("torn line outside the active log: %s", p)
			}
		case strings.Contains(p.Message, "RequestReceived without ResponseComplete"):
			unfinished++ // a request in flight at the kill
		default:
			t.Errorf("unexpected problem after kill -9: %s", p)
		}
	}
	if torn > 1 || unfinished > 8 {
		t.Errorf("%d torn lines (at most 1) and %d unfinished requests (at most the 8 in flight)", torn, unfinished)
	}
	// auditctl verify reports the same, precisely, with file and line.
	out, _ := exec.Command(auditctlBin, append([]string{"verify"}, files...)...).CombinedOutput()
	if !strings.Contains(string(out), fmt.Sprintf("%d events in %d files", len(events), len(files))) {
		t.Errorf("auditctl verify:\n%s", out)
	}

	s2 := startServer(t, args...)
	missing := 0
	acked.Range(func(k, _ any) bool {
		if _, err := s2.Client().CoreV1().Pods("load").Get(context.Background(), k.(string), metav1.GetOptions{}); err != nil {
			missing++
			t.Errorf("acknowledged pod %s lost across kill -9: %v", k, err)
		}
		return missing < 5
	})
}

func TestFaultSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	for _, reachable := range []bool{true, false} {
		t.Run(fmt.Sprintf("sink reachable=%t", reachable), func(t *testing.T) {
			t.Parallel()
			snk := startSink(t, false)
			log := filepath.Join(t.TempDir(), "audit.log")
			s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("load", auditv1.LevelMetadata)),
				"--audit-log-path="+log, "--audit-log-mode=batch", "--audit-log-batch-max-wait=1h", "--audit-log-batch-max-size=100000",
				"--audit-webhook-config-file="+snk.Config, "--audit-webhook-batch-max-wait=1h", "--audit-webhook-batch-max-size=100000",
				"--audit-webhook-initial-backoff=50ms")
			createNamespace(t, s.Client(), "load")
			if !reachable {
				if err := snk.Down(); err != nil {
					t.Fatal(err)
				}
			}
			stop := make(chan struct{})
			acked, wg := loadUntil(s.Client(), "load", 4, stop)
			eventually(t, 60*time.Second, "load under way", func() (bool, error) {
				n := 0
				acked.Range(func(_, _ any) bool { n++; return true })
				return n >= 50, nil
			})
			start := time.Now()
			if err := s.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.Done():
			case <-time.After(waitLong):
				t.Fatal("no exit within 60s of SIGTERM")
			}
			close(stop)
			wg.Wait()
			if s.Err() != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", s.Err(), s.Stderr())
			}
			t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))

			logged, err := expect.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			// Every acknowledged create has its events in the log.
			created := map[string]bool{}
			for _, e := range logged {
				if e.Stage == auditv1.StageResponseComplete && e.Verb == "create" && e.ResponseStatus != nil && e.ResponseStatus.Code == 201 {
					created[e.ObjectRef.Name] = true
				}
			}
			acked.Range(func(k, _ any) bool {
				if !created[k.(string)] {
					t.Errorf("acknowledged create of %s has no ResponseComplete in the log", k)
				}
				return true
			})
			sums := loggedPluginErrors(s.Stderr())
			if reachable {
				if got := len(snk.Events()); got != len(logged) {
					t.Errorf("webhook got %d events, the log %d: buffered events were not all delivered at shutdown", got, len(logged))
				}
			} else if sums["webhook"] != len(logged) {
				t.Errorf("sink unreachable: the server logged %d undelivered events, the log holds %d", sums["webhook"], len(logged))
			}
		})
	}
}

func TestFaultExternalEtcdOutage(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	s := startServer(t, "--etcd-servers="+etcd.URL(), "--request-timeout=5s")
	client := s.Client()
	ctx := context.Background()
	if _, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", "before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	etcd.Kill()

	eventually(t, 60*time.Second, "/readyz to fail", func() (bool, error) {
		return s.ReadyStatus(ctx) == 500, nil
	})
	start := time.Now()
	_, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", "during"), metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a write succeeded with etcd down")
	}
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("the write failed after %s, past the 5s request timeout", elapsed)
	}
	t.Logf("write with etcd down: %v (after %s)", err, time.Since(start).Round(time.Millisecond))

	if err := etcd.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "/readyz to recover", func() (bool, error) {
		return s.ReadyStatus(ctx) == 200, nil
	})
	eventually(t, 30*time.Second, "writes to work again", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Create(ctx, newPod("default", "after"), metav1.CreateOptions{})
		return err == nil, err
	})
	if _, err := client.CoreV1().Pods("default").Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("pod written before the outage: %v", err)
	}
}
