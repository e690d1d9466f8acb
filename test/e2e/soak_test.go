package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// TestSoak (make soak; skipped unless SOAK_DURATION is set): mixed load with
// audit on both backends and a rotating log; RSS and goroutines stay flat,
// no request fails, no event is lost.
func TestSoak(t *testing.T) {
	d := os.Getenv("SOAK_DURATION")
	if d == "" {
		t.Skip("set SOAK_DURATION (make soak) to run the soak")
	}
	duration, err := time.ParseDuration(d)
	if err != nil {
		t.Fatal(err)
	}
	// The sink keeps no events: two million requests would not fit in memory.
	snk, err := sink.Start(sink.Options{DiscardInMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snk.Close() })
	webhookConfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := harness.WriteWebhookKubeconfig(webhookConfig, snk.URL()+"/audit", harness.WebhookClient{}); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(t.TempDir(), "audit")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("soak", auditv1.LevelRequestResponse)),
		"--audit-log-path="+filepath.Join(logDir, "audit.log"), "--audit-log-maxsize=1", "--audit-log-maxbackup=100000",
		"--audit-webhook-config-file="+webhookConfig, "--audit-webhook-batch-max-wait=1s")
	createNamespace(t, s.Client(), "soak")
	pods := s.Client().CoreV1().Pods("soak")
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()

	var requests, failures int64
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				// Each cycle of six requests creates, reads, lists, watches and deletes one pod.
				name := fmt.Sprintf("w%d-%d", w, (i/6)%50)
				var err error
				switch i % 6 {
				case 0:
					_, err = pods.Create(context.Background(), newPod("soak", name), metav1.CreateOptions{})
				case 1, 2:
					_, err = pods.Get(context.Background(), name, metav1.GetOptions{})
				case 3:
					_, err = pods.List(context.Background(), metav1.ListOptions{Limit: 20})
				case 4:
					var w2 interface{ Stop() }
					w2, err = pods.Watch(context.Background(), metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
					if err == nil {
						w2.Stop()
					}
				case 5:
					err = pods.Delete(context.Background(), name, metav1.DeleteOptions{})
				}
				atomic.AddInt64(&requests, 1)
				if err != nil {
					atomic.AddInt64(&failures, 1)
					t.Errorf("%v", err)
				}
			}
		}(w)
	}
	type sample struct {
		at                time.Duration
		rssKiB            int
		goroutines, files int
	}
	var samples []sample
	start := time.Now()
	ticker := time.NewTicker(duration / 20)
	for ctx.Err() == nil {
		select {
		case <-ticker.C:
		case <-ctx.Done():
		}
		backups, _ := filepath.Glob(filepath.Join(logDir, "*"))
		samples = append(samples, sample{time.Since(start).Round(time.Second), rssKiB(t, s.PID()),
			int(metric(t, s, "go_goroutines")), len(backups)})
	}
	ticker.Stop()
	wg.Wait()
	t.Logf("%d requests, %d failed", requests, failures)
	t.Logf("%10s %10s %11s %10s", "time", "RSS MiB", "goroutines", "log files")
	for _, x := range samples {
		t.Logf("%10s %10.1f %11d %10d", x.at, float64(x.rssKiB)/1024, x.goroutines, x.files)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(logDir, "*"))
	logged := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		logged += bytes.Count(data, []byte("\n"))
	}
	delivered := 0
	for _, a := range snk.Attempts() {
		if a.Status == http.StatusOK {
			delivered += a.Events
		}
	}
	if delivered != logged {
		t.Errorf("the log holds %d events, the webhook got %d", logged, delivered)
	}
	t.Logf("%d events in %d log files, %d delivered to the webhook", logged, len(files), delivered)
	if len(samples) >= 8 {
		quarter, last := samples[len(samples)/4], samples[len(samples)-1]
		if float64(last.rssKiB) > 1.5*float64(quarter.rssKiB) || float64(last.goroutines) > 1.5*float64(quarter.goroutines)+10 {
			t.Errorf("not flat: RSS %d -> %d KiB, goroutines %d -> %d", quarter.rssKiB, last.rssKiB, quarter.goroutines, last.goroutines)
		}
	}
}
