package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

func memory(work string) {
	say("## Memory (RSS of the mini-apiserver process, embedded etcd included)\n")
	s, _ := start(filepath.Join(work, "mem"))
	time.Sleep(2 * time.Second) // settle: the figure is idle RSS, not a condition
	pid := s.PID()
	idle, anon, file := rssMiB(pid), procStatusMiB(pid, "RssAnon"), procStatusMiB(pid, "RssFile")
	heap := s.metric("go_memstats_heap_inuse_bytes") / (1 << 20)
	ensureNS(s.client, "mem")
	t0 := time.Now()
	var wg sync.WaitGroup
	var next int64 = -1
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= 10000 {
					return
				}
				_, _ = s.client.CoreV1().Pods("mem").Create(context.Background(), loadgen.Pod("mem", fmt.Sprintf("p-%05d", i), *objectSize), metav1.CreateOptions{})
			}
		}()
	}
	wg.Wait()
	after := rssMiB(pid)
	s.stop()
	say("| state | RSS |")
	say("|---|---|")
	say("| idle after start-up | %.0f MiB: %.0f MiB file-backed (the binary's code and data), %.0f MiB anonymous (Go heap in use %.0f MiB) |", idle, file, anon, heap)
	say("| after 10,000 pods of %d B (created in %s) | %.0f MiB |", *objectSize, time.Since(t0).Round(time.Second), after)
	say("")
	say("Audit cost per request: %s of creates at each level to the log backend; allocated bytes per request from", *duration)
	say("`go_memstats_alloc_bytes_total`, peak RSS sampled every 100 ms.\n")
	say("| audit level | allocated per create | peak RSS |")
	say("|---|---|---|")
	for _, level := range []string{"None", "Metadata", "Request", "RequestResponse"} {
		dir := filepath.Join(work, "mem-"+level)
		s, _ := start(dir, "--audit-policy-file="+policyFile(work, level), "--audit-log-path="+filepath.Join(dir, "audit.log"))
		ensureNS(s.client, "load")
		stopSampling := samplePeakRSS(s.PID(), 100*time.Millisecond)
		alloc0 := s.metric("go_memstats_alloc_bytes_total")
		res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: "create", Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load"})
		check(err)
		perRequest := (s.metric("go_memstats_alloc_bytes_total") - alloc0) / float64(res.Requests)
		peak := stopSampling()
		s.stop()
		say("| %s | %.0f KiB | %.0f MiB |", level, perRequest/1024, peak)
	}
	say("")
}

// memoryUnderWrites follows RSS while pods are updated as fast as the
// workers go: the watch cache keeps at least 75 s of events (k8s.io/apiserver's
// minimum) and etcd every revision until the next compaction.
func memoryUnderWrites(work string) {
	say("## Memory under sustained writes (updates of 100 pods of %d B, concurrency %d, audit off, %s)\n", *objectSize, *concurrency, *writesFor)
	marks := []time.Duration{15 * time.Second, 30 * time.Second, 60 * time.Second, *writesFor}
	header := "| configuration | updates/s |"
	for _, m := range marks {
		header += fmt.Sprintf(" RSS at %s |", m)
	}
	say("%s", header)
	say("|---|---|%s", strings.Repeat("---|", len(marks)))
	for i, c := range []variant{
		{name: "kube's defaults (watch cache on, compaction every 5m)"},
		{name: "`--etcd-compaction-interval=30s`", args: []string{"--etcd-compaction-interval=30s"}},
		{name: "`--feature-gates=ListFromCacheSnapshot=false`", args: []string{"--feature-gates=ListFromCacheSnapshot=false"}},
		{name: "`--watch-cache=false`", args: []string{"--watch-cache=false"}},
	} {
		s := startLoaded(filepath.Join(work, fmt.Sprintf("writes-%d", i)), c)
		done := make(chan loadgen.Result)
		go func() {
			res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: "update", Concurrency: *concurrency, Duration: *writesFor, ObjectSize: *objectSize, Namespace: "load"})
			check(err)
			done <- res
		}()
		t0 := time.Now()
		var rss []float64
		for _, m := range marks {
			time.Sleep(time.Until(t0.Add(m)))
			rss = append(rss, rssMiB(s.PID()))
		}
		res := <-done
		s.stop()
		row := fmt.Sprintf("| %s | %.0f |", c.name, res.Rate())
		for _, r := range rss {
			row += fmt.Sprintf(" %.0f MiB |", r)
		}
		say("%s", row)
	}
	say("")
}
