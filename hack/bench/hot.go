package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// hotBenchmarks names the Go benchmarks of our own hot code.
var hotBenchmarks = map[string]string{
	"BenchmarkDecodePod":            "decode + default a pod request body",
	"BenchmarkPrepareAndValidate":   "prepare for create + validate a pod",
	"BenchmarkValidateUpdate":       "validate a pod update",
	"BenchmarkTable100Pods":         "table of 100 pods",
	"BenchmarkDecodeEventList400":   "decode a 400-event webhook delivery (sink)",
	"BenchmarkDeliverPerUser400":    "receive a 400-event delivery into per-user files (sink)",
	"BenchmarkWritePlainFile":       "write a 2 KB event line to the file as the library opens it (--audit-log-maxsize=0)",
	"BenchmarkWriteLogFile":         "the same behind pkg/audit/logfile (stat of the path first)",
	"BenchmarkWriteLumberjack":      "write a 2 KB event line with the library's built-in rotation (lumberjack)",
	"BenchmarkWriteLogFileRotating": "the same behind pkg/audit/logfile",
}

// hotCode runs the Go benchmarks of our own hot code and tables them.
func hotCode(string) {
	pkgs := []string{"./pkg/api", "./pkg/registry/core/pod", "./pkg/audit/sink", "./pkg/audit/logfile"}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		check(fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out))
	}
	say("## Hot code (Go benchmarks, `go %s`)\n", strings.Join(args, " "))
	nsOp := map[string]float64{}
	say("| benchmark | time/op | allocs/op |")
	say("|---|---|---|")
	for _, line := range strings.Split(string(out), "\n") {
		// BenchmarkName-2   N   T ns/op   [S MB/s]   B B/op   A allocs/op
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name, _, _ := strings.Cut(f[0], "-")
		nsOp[name], _ = strconv.ParseFloat(f[2], 64)
		what, ok := hotBenchmarks[name]
		if !ok {
			what = name
		}
		ns, _ := strconv.ParseFloat(f[2], 64)
		d := time.Duration(ns)
		perOp := d.Round(100 * time.Nanosecond).String()
		if d > time.Millisecond {
			perOp = d.Round(10 * time.Microsecond).String()
		}
		if f[5] == "MB/s" {
			perOp += " (" + f[4] + " MB/s)"
			f = append(f[:4], f[6:]...)
		}
		bytesPerOp, _ := strconv.ParseFloat(f[4], 64)
		say("| %s | %s | %s (%.1f KB) |", what, perOp, f[6], bytesPerOp/1000)
	}
	say("")
	// The log-file guard's cost (issue: "no measurable throughput at 1,000 events/s").
	for _, pair := range [][2]string{{"BenchmarkWritePlainFile", "BenchmarkWriteLogFile"}, {"BenchmarkWriteLumberjack", "BenchmarkWriteLogFileRotating"}} {
		if base, guarded := nsOp[pair[0]], nsOp[pair[1]]; base > 0 && guarded > 0 {
			say("Checking the audit log's path (%s over %s): %.1f µs an event, %.2f%% of one core at 1,000 events/s.",
				pair[1], pair[0], (guarded-base)/1000, (guarded-base)*1000/1e9*100)
		}
	}
	say("")
}
