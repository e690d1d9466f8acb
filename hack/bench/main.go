// Command bench measures mini-apiserver (make bench): start-up, memory,
// throughput and latency with each audit configuration compared with audit
// off in the same run, and the raw etcd rate. It prints a report and writes
// it to docs/performance.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

var (
	binDir         = flag.String("bin", "bin", "directory with mini-apiserver and etcd")
	out            = flag.String("out", "docs/performance.md", "report file")
	runs           = flag.Int("runs", 5, "start-up runs per case")
	duration       = flag.Duration("duration", 4*time.Second, "duration of each throughput measurement")
	rounds         = flag.Int("rounds", 3, "interleaved rounds of the throughput comparison")
	concurrency    = flag.Int("concurrency", 8, "client concurrency")
	objectSize     = flag.Int("object-size", 1024, "pod padding bytes")
	consoleReadMiB = flag.Int("console-read-mib", 256, "size of the rotated log set the console reads whole (consoleread section)")
	consoleOpenMiB = flag.Int("console-open-mib", 1024, "size of the rotated log set the console is opened on (consoleread section)")
	sections       = flag.String("sections", "all", "comma-separated sections to run: startup, memory, throughput, storage, hop, gogc, rbac, dynamic, delivery, writes, hot, console, consoleread, kube, auditmem, auditdown, auditmix (the report is written only for all)")
	writesFor      = flag.Duration("writes-duration", 105*time.Second, "duration of each sustained-write memory measurement (past the watch cache's 75 s history)")
	deliveryStep   = flag.Duration("delivery-step", 10*time.Second, "duration of each step of the webhook delivery measurement")
	cpuProfile     = flag.String("cpuprofile", "", "write the bench process's CPU profile here (what the in-process sections, as consoleread, spend)")
)

var report strings.Builder

func say(format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	fmt.Println(line)
	report.WriteString(line + "\n")
}

func main() {
	flag.Parse()
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	err := run()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	work, err := os.MkdirTemp("", "mini-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	host, _ := os.Hostname()
	say("# Performance\n")
	say("Measured by `make bench` (`go run ./hack/bench -bin bin -runs %d -duration %s -rounds %d -concurrency %d -object-size %d`) on %s.",
		*runs, *duration, *rounds, *concurrency, *objectSize, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	say("Machine: %s, %d cores (%s), %s memory; server, etcd and load generator share the cores.", host, runtime.NumCPU(), cpuModel(), memTotal())
	say("How the figures are made and what they say: [performance-notes.md](performance-notes.md).\n")

	total0, steal0 := cpuTimes()
	for _, sec := range []struct {
		name string
		run  func(string)
	}{{"startup", startup}, {"memory", memory}, {"throughput", throughput}, {"storage", storage}, {"hop", etcdHop}, {"gogc", gcTarget}, {"rbac", rbacCost}, {"dynamic", dynamicCost}, {"delivery", webhookDelivery}, {"writes", memoryUnderWrites}, {"hot", hotCode}, {"console", consoleLatency}, {"consoleread", consoleRead}, {"kube", kubeThroughput}, {"auditmem", auditMemory}, {"auditdown", auditMemoryReceiverDown}, {"auditmix", auditMix}} {
		if *sections == "all" || slices.Contains(strings.Split(*sections, ","), sec.name) {
			if err := runSection(sec.run, work); err != nil {
				return fmt.Errorf("section %s: %w", sec.name, err)
			}
		}
	}

	say("CPU time the hypervisor took during the whole run (steal, /proc/stat): %.1f%%.", 100*stealSince(total0, steal0))
	if *sections == "all" {
		if err := os.WriteFile(*out, []byte(report.String()), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nwritten to %s\n", *out)
	}
	return nil
}

// benchError carries a failure out of a section. A section stops at its
// first error; the panic unwinds its defers, so the servers and etcd it
// started are stopped before the command exits.
type benchError struct{ err error }

func check(err error) {
	if err != nil {
		panic(benchError{err})
	}
}

func runSection(run func(string), work string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			be, ok := r.(benchError)
			if !ok {
				panic(r)
			}
			err = be.err
		}
	}()
	total0, steal0 := cpuTimes()
	run(work)
	say("CPU time the hypervisor took during this section (steal, /proc/stat): %.1f%%.\n", 100*stealSince(total0, steal0))
	return nil
}
