package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

var (
	auditMemPods   = flag.Int("auditmem-pods", 5000, "pods of 10 KB the auditmem section lists")
	auditMemLists  = flag.Int("auditmem-lists", 10, "LISTs in parallel in the auditmem section")
	auditMemFor    = flag.Duration("auditmem-duration", 10*time.Second, "how long the auditmem section lists at each level")
	auditMemLevels = flag.String("auditmem-levels", "None,Metadata,Request,RequestResponse", "the levels the auditmem section measures (None first: what the others add is over it)")
)

// listTarget is an API server under the LIST load: its client, the pid
// whose memory counts, and how to stop it.
type listTarget struct {
	name   string
	client *kubernetes.Clientset
	pid    int
	stop   func()
}

// auditMemory measures what auditing costs in memory (issue 30, item 1b):
// LISTs of many pods of 10 KB, several in parallel, at each audit level to
// the log, on mini-apiserver and kube-apiserver started with the same
// flags, one after the other at each level. The figure is the API server
// process's peak RSS (sampled every 50 ms) and what each level adds over
// None: kube-apiserver's process without its etcd, ours with its etcd
// inside (the same at every level, so it cancels out of what a level adds).
func auditMemory(work string) {
	say("## What auditing costs in memory: LISTs of %d pods of 10 KB, %d in parallel for %s, to the log\n", *auditMemPods, *auditMemLists, *auditMemFor)
	if skippedWithoutKube() {
		return
	}
	say("Peak RSS of the API server process, sampled every 50 ms (ours with its embedded etcd; kube-apiserver without its")
	say("etcd), and what the level adds over None; the same one-rule policy and `--audit-log-path` for both; the log's")
	say("growth counted to the server's stop, over the time it listed.\n")
	say("| level | ours: peak RSS | adds | lists/s | log MB/s | kube-apiserver: peak RSS | adds | lists/s | log MB/s | ours adds / kube's |")
	say("|---|---|---|---|---|---|---|---|---|---|")
	oursDir, kubeDir := filepath.Join(work, "auditmem-ours"), filepath.Join(work, "auditmem-kube")
	kubeFiles(kubeDir)
	// Filled once, audit off, so that no level's figure has the filling in it.
	s, _ := start(oursDir)
	fillPods(s.client)
	s.stop()
	k, _, _ := startKube(kubeDir)
	fillPods(k.client())
	k.stop()
	var oursNone, kubeNone float64
	for _, level := range strings.Split(*auditMemLevels, ",") {
		logDir := filepath.Join(work, "auditmem-logs-"+level)
		check(os.MkdirAll(logDir, 0o700))
		flags := func(who string) []string {
			return []string{"--audit-policy-file=" + policyFile(work, level), "--audit-log-path=" + filepath.Join(logDir, who+".log")}
		}
		s, _ := start(oursDir, flags("ours")...)
		ours := listRun(listTarget{"ours", s.client, s.PID(), s.stop}, filepath.Join(logDir, "ours.log"))
		k, _, _ := startKube(kubeDir, flags("kube")...)
		theirs := listRun(listTarget{"kube", k.client(), k.Cmd.Process.Pid, k.stop}, filepath.Join(logDir, "kube.log"))
		if level == "None" {
			oursNone, kubeNone = ours.peak, theirs.peak
		}
		added := func(peak, none float64) string {
			if level == "None" {
				return "-"
			}
			return fmt.Sprintf("%+.0f MiB", peak-none)
		}
		ratio := "-"
		if level != "None" && theirs.peak-kubeNone > 0 && ours.peak-oursNone > 0 {
			ratio = fmt.Sprintf("%.2f", (ours.peak-oursNone)/(theirs.peak-kubeNone))
		}
		say("| %s | %.0f MiB | %s | %.1f | %.1f | %.0f MiB | %s | %.1f | %.1f | %s |", level, ours.peak, added(ours.peak, oursNone), ours.rate, ours.logRate,
			theirs.peak, added(theirs.peak, kubeNone), theirs.rate, theirs.logRate, ratio)
		check(os.RemoveAll(logDir))
	}
	say("")
}

type listResult struct {
	peak, rate, logRate float64 // MiB, lists/s, MB/s of log
}

// fillPods creates the pods the LISTs read.
func fillPods(c *kubernetes.Clientset) {
	ctx := context.Background()
	ensurePodNamespace(c, "lists")
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range *concurrency {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(*auditMemPods) && failed.Load() == nil; i = next.Add(1) - 1 {
				if _, err := c.CoreV1().Pods("lists").Create(ctx, loadgen.Pod("lists", fmt.Sprintf("p-%05d", i), 10<<10), metav1.CreateOptions{}); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		check(fmt.Errorf("filling: %w", *err))
	}
}

// listRun lists the pods from auditMemLists clients for auditMemFor, and
// stops the server (which writes the events of the last LISTs).
func listRun(t listTarget, log string) listResult {
	ctx := context.Background()
	var failed atomic.Pointer[error] // the first error of a lister
	fail := func(err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	// The log and its backups: it rotates at 100 MB (the default of
	// --audit-log-maxsize's writer, lumberjack, for both servers).
	logSize := func() int64 {
		files, _ := filepath.Glob(strings.TrimSuffix(log, ".log") + "*.log")
		var n int64
		for _, f := range files {
			if info, err := os.Stat(f); err == nil {
				n += info.Size()
			}
		}
		return n
	}
	log0 := logSize()
	var lists atomic.Int64
	stopSampling := samplePeakRSS(t.pid, 50*time.Millisecond)
	deadline := time.Now().Add(*auditMemFor)
	var listers sync.WaitGroup
	for range *auditMemLists {
		listers.Go(func() {
			for time.Now().Before(deadline) && failed.Load() == nil {
				// The answer streamed away: the load generator keeps no list.
				body, err := t.client.CoreV1().RESTClient().Get().Namespace("lists").Resource("pods").Stream(ctx)
				if err != nil {
					fail(err)
					return
				}
				_, err = io.Copy(io.Discard, body)
				body.Close()
				fail(err)
				lists.Add(1)
			}
		})
	}
	t0 := time.Now()
	listers.Wait()
	took := time.Since(t0)
	peak := stopSampling()
	t.stop()
	if err := failed.Load(); err != nil {
		check(fmt.Errorf("%s: listing: %w", t.name, *err))
	}
	return listResult{peak: peak, rate: float64(lists.Load()) / took.Seconds(), logRate: float64(logSize()-log0) / 1e6 / took.Seconds()}
}

var (
	auditDownFor  = flag.Duration("auditmem-down-duration", 30*time.Second, "how long the auditdown section creates pods with the webhook receiver down")
	auditDownRate = flag.Float64("auditmem-down-rate", 300, "creates a second the auditdown section offers each server (the same load on both, chosen below what either sustained with the receiver down on the 2-core VM of docs/performance.md; the table gives the rate each reached; 0: as fast as each goes)")
)

// auditMemoryReceiverDown measures what a batch webhook whose receiver is
// down holds (issue 30, item 1c): creates of pods of 10 KB at
// RequestResponse for auditDownFor, the receiver refusing connections;
// peak RSS against the same creates with audit off, ours and kube's. Both
// are offered the same creates a second: a server that went faster would
// make more events, and more pods, and hold more for it. The library's
// batch backend takes batches out of its buffer as its throttle allows
// and each waits, retrying, in a goroutine of its own, so what it holds is
// bounded by the throttle and the retries' time, not by
// --audit-webhook-batch-buffer-size: the table gives what it adds per
// event made.
func auditMemoryReceiverDown(work string) {
	say("## What auditing costs in memory: the webhook receiver down, creates of pods of 10 KB (concurrency %d, %s) for %s at RequestResponse to a batch webhook that refuses connections\n", *concurrency, offered(*auditDownRate), *auditDownFor)
	if skippedWithoutKube() {
		return
	}
	port, err := proc.FreePort() // nothing listens there
	check(err)
	wh := filepath.Join(work, "auditmem-down.kubeconfig")
	check(harness.WriteWebhookKubeconfig(wh, fmt.Sprintf("http://127.0.0.1:%d/audit", port), harness.WebhookClient{}))
	down := []string{"--audit-policy-file=" + policyFile(work, "RequestResponse"), "--audit-webhook-config-file=" + wh}
	say("| server | audit off: peak RSS | receiver down: peak RSS | adds | creates/s (off, down) | events generated, counted lost by the end | adds per event generated |")
	say("|---|---|---|---|---|---|---|")
	type run struct {
		peak, rate         float64
		generated, dropped float64
	}
	creates := func(c *kubernetes.Clientset, pid int, metrics func() (float64, float64)) run {
		ensurePodNamespace(c, "load")
		stopSampling := samplePeakRSS(pid, 50*time.Millisecond)
		res, err := loadgen.Run(context.Background(), c, loadgen.Options{Op: "create", Concurrency: *concurrency, Duration: *auditDownFor, ObjectSize: 10 << 10, Namespace: "load", Rate: *auditDownRate})
		peak := stopSampling()
		check(err)
		generated, dropped := metrics()
		return run{peak: peak, rate: res.Rate(), generated: generated, dropped: dropped}
	}
	events := func(c *kubernetes.Clientset) func() (float64, float64) {
		return func() (float64, float64) {
			m, err := harness.ReadMetrics(context.Background(), c)
			check(err)
			// Lost by any of the webhook's layers: the batch buffer full
			// (plugin "buffered"), retries run out (plugin "webhook").
			return m.Value("apiserver_audit_event_total"), m.Value("apiserver_audit_error_total")
		}
	}
	for _, who := range []string{"ours", "kube-apiserver"} {
		var off, on run
		for i, args := range [][]string{nil, down} {
			dir := filepath.Join(work, fmt.Sprintf("auditmem-down-%s-%d", who, i))
			var r run
			if who == "ours" {
				s, _ := start(dir, args...)
				r = creates(s.client, s.PID(), events(s.client))
				s.stop()
			} else {
				kubeFiles(dir)
				k, _, _ := startKube(dir, args...)
				c := k.client()
				r = creates(c, k.Cmd.Process.Pid, events(c))
				k.stop()
			}
			if i == 0 {
				off = r
			} else {
				on = r
			}
			check(os.RemoveAll(dir))
		}
		say("| %s | %.0f MiB | %.0f MiB | %+.0f MiB | %.0f, %.0f | %.0f, %.0f | %.1f KiB |", who, off.peak, on.peak, on.peak-off.peak, off.rate, on.rate, on.generated, on.dropped, (on.peak-off.peak)*1024/on.generated)
	}
	say("")
}

// offered names the load a rate gives.
func offered(rate float64) string {
	if rate == 0 {
		return "as fast as each server goes"
	}
	return fmt.Sprintf("%.0f a second offered to each server", rate)
}
