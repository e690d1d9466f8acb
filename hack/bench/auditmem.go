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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

var (
	auditMemPods  = flag.Int("auditmem-pods", 5000, "pods of 10 KB the auditmem section lists")
	auditMemLists = flag.Int("auditmem-lists", 10, "LISTs in parallel in the auditmem section")
	auditMemFor   = flag.Duration("auditmem-duration", 10*time.Second, "how long the auditmem section lists at each level")
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
	if !haveKube() {
		say("Skipped: no -kube-apiserver binary (`make kube-apiserver` builds it).\n")
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
	for _, level := range []string{"None", "Metadata", "Request", "RequestResponse"} {
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
		if level != "None" && theirs.peak-kubeNone > 0 {
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
	ensureNS(c, "lists")
	// kube-apiserver without kube-controller-manager makes no default
	// service account, which admission wants for a pod.
	_, _ = c.CoreV1().ServiceAccounts("lists").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
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
	var peak float64
	var lists atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, rssMiB(t.pid))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
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
	close(stop)
	wg.Wait()
	t.stop()
	if err := failed.Load(); err != nil {
		check(fmt.Errorf("%s: listing: %w", t.name, *err))
	}
	return listResult{peak: peak, rate: float64(lists.Load()) / took.Seconds(), logRate: float64(logSize()-log0) / 1e6 / took.Seconds()}
}
