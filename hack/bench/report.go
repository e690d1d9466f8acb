package main

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procStatusMiB reads a size field (VmRSS, RssAnon, RssFile) of /proc/<pid>/status.
func procStatusMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(n) / 1024
		}
	}
	return 0
}

func rssMiB(pid int) float64 { return procStatusMiB(pid, "VmRSS") }

func stats(ds []time.Duration) string {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }
	return fmt.Sprintf("%s ms (range %s-%s)", ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
}

// processCPU is a process's user+system CPU seconds from /proc/<pid>/stat.
func processCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th of the whole line.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

func selfCPU() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// median is the middle of v (the upper one of an even count), v unchanged.
func median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianD(v []time.Duration) string {
	return median(v).Round(10 * time.Microsecond).String()
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%.0f GiB", float64(kb)/1024/1024)
		}
	}
	return "?"
}

// memorySample is a process's memory at a moment of a run.
type memorySample struct {
	at        time.Duration
	rss, heap float64 // MiB; heap is -1 where it was not read
}

// sampleMemory samples pid's RSS every interval, and heap (when not nil)
// every tenth sample, until the returned func is called, which returns the
// samples.
func sampleMemory(pid int, every time.Duration, heap func() float64) (stop func() []memorySample) {
	var samples []memorySample
	done := make(chan struct{})
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 0; ; n++ {
			s := memorySample{at: time.Since(t0), rss: rssMiB(pid), heap: -1}
			if heap != nil && n%10 == 0 {
				s.heap = heap()
			}
			samples = append(samples, s)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() []memorySample {
		close(done)
		wg.Wait()
		return samples
	}
}

// samplePeakRSS samples pid's RSS every interval until the returned func
// is called, which returns the highest seen (MiB).
func samplePeakRSS(pid int, every time.Duration) (stop func() float64) {
	samples := sampleMemory(pid, every, nil)
	return func() float64 {
		var peak float64
		for _, s := range samples() {
			peak = max(peak, s.rss)
		}
		return peak
	}
}

// cpuTimes is the machine's CPU time so far (/proc/stat's first line, in
// clock ticks): all of it, and what the hypervisor gave other guests
// while this one wanted to run (steal).
func cpuTimes() (total, steal uint64) {
	data, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 { // no /proc/stat (or an old kernel's): nothing to report
		return 0, 0
	}
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal; guest time is in user already
			total += v
		}
		if i == 7 {
			steal = v
		}
	}
	return total, steal
}

// stealSince is the share of the machine's CPU time the hypervisor took
// since cpuTimes gave total0 and steal0: a section measured while it was
// high ran on fewer cores than the machine has, and its figures are noisier.
func stealSince(total0, steal0 uint64) float64 {
	total, steal := cpuTimes()
	if total <= total0 {
		return 0
	}
	return float64(steal-steal0) / float64(total-total0)
}
