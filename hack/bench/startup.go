package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// startup measures exec to the first 200 on /readyz, and idle memory, for
// mini-apiserver and, with -kube-apiserver, for kube-apiserver + etcd in the
// same run, interleaved run by run so both see the same machine.
func startup(work string) {
	kube := haveKube()
	say("## Start-up (exec to the first 200 on /readyz, polled every 5 ms with the admin credential)\n")
	var fresh, existing, inproc, kFresh, kExisting, kEtcd []time.Duration
	for i := 0; i < *runs; i++ {
		s, d := start(filepath.Join(work, fmt.Sprintf("fresh-%d", i)))
		fresh = append(fresh, d)
		s.stop()
		if kube {
			k, d, e := startKube(filepath.Join(work, fmt.Sprintf("kube-fresh-%d", i)))
			kFresh, kEtcd = append(kFresh, d), append(kEtcd, e)
			k.stop()
		}
	}
	dir, kdir := filepath.Join(work, "existing"), filepath.Join(work, "kube-existing")
	s, _ := start(dir)
	s.stop()
	if kube {
		k, _, _ := startKube(kdir)
		k.stop()
	}
	for i := 0; i < *runs; i++ {
		s, d := start(dir)
		existing = append(existing, d)
		s.stop()
		if kube {
			k, d, e := startKube(kdir)
			kExisting, kEtcd = append(kExisting, d), append(kEtcd, e)
			k.stop()
		}
	}
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		h, err := harness.Start(context.Background(), harness.Options{})
		check(err)
		inproc = append(inproc, time.Since(t0))
		check(h.Stop())
	}
	if !kube {
		say("| case | median (range) over %d runs |", *runs)
		say("|---|---|")
		say("| binary, fresh data dir (embedded etcd, certificates generated) | %s |", stats(fresh))
		say("| binary, existing data dir | %s |", stats(existing))
		say("| in-process harness (`harness.Start`) | %s |", stats(inproc))
		say("\nkube-apiserver was not measured (no -kube-apiserver binary; `make kube-apiserver` builds it).\n")
		return
	}
	say("kube-apiserver %s runs with etcd from `bin/etcd` (started first, then kube-apiserver on it, as a control plane", *kubeBin)
	say("does; its time includes etcd's: median %d ms to serve), default flags but a token file, service account keys and", median(kEtcd).Milliseconds())
	say("loopback addresses. Medians (range) over %d interleaved runs; the ratio is kube-apiserver + etcd over mini-apiserver.\n", *runs)
	say("| case | mini-apiserver | kube-apiserver + etcd | ratio |")
	say("|---|---|---|---|")
	say("| fresh data dir (certificates generated) | %s | %s | %.1fx |", stats(fresh), stats(kFresh), ratioDur(kFresh, fresh))
	say("| existing data dir | %s | %s | %.1fx |", stats(existing), stats(kExisting), ratioDur(kExisting, existing))
	say("| in-process harness (`harness.Start`) | %s | | |", stats(inproc))
	say("")

	// Idle memory, 10 s after ready, one of each side by side.
	s, _ = start(dir)
	k, _, _ := startKube(kdir)
	time.Sleep(10 * time.Second) // the figure is idle RSS 10 s after ready, not a condition
	ours, theirs := rssMiB(s.PID()), k.rss()
	apiOnly := rssMiB(k.Cmd.Process.Pid)
	anon := func(pid int) float64 { return procStatusMiB(pid, "RssAnon") }
	ourAnon, theirAnon := anon(s.PID()), anon(k.Cmd.Process.Pid)+anon(k.Etcd.PID())
	s.stop()
	k.stop()
	say("| idle, existing data dir, 10 s after ready | mini-apiserver (embedded etcd included) | kube-apiserver + etcd | ratio |")
	say("|---|---|---|---|")
	say("| RSS | %.0f MiB | %.0f MiB (kube-apiserver %.0f, etcd %.0f) | %.1fx |", ours, theirs, apiOnly, theirs-apiOnly, theirs/ours)
	say("| of which anonymous (heap, stacks: `RssAnon`) | %.0f MiB | %.0f MiB | %.1fx |", ourAnon, theirAnon, theirAnon/ourAnon)
	say("| of which the binaries' pages (`RssFile`) | %.0f MiB | %.0f MiB | %.1fx |", ours-ourAnon, theirs-theirAnon, (theirs-theirAnon)/(ours-ourAnon))
	say("")
}

// ratioDur is median(a) over median(b).
func ratioDur(a, b []time.Duration) float64 {
	return float64(median(a)) / float64(median(b))
}
