package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

func startup(work string) {
	say("## Start-up (exec to the first 200 on /readyz)\n")
	say("| case | median (range) over %d runs |", *runs)
	say("|---|---|")
	var fresh, existing, inproc []time.Duration
	for i := 0; i < *runs; i++ {
		s, d := start(filepath.Join(work, fmt.Sprintf("fresh-%d", i)))
		fresh = append(fresh, d)
		s.stop()
	}
	dir := filepath.Join(work, "existing")
	s, _ := start(dir)
	s.stop()
	for i := 0; i < *runs; i++ {
		s, d := start(dir)
		existing = append(existing, d)
		s.stop()
	}
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		h, err := harness.Start(context.Background(), harness.Options{})
		check(err)
		inproc = append(inproc, time.Since(t0))
		check(h.Stop())
	}
	say("| binary, fresh data dir (embedded etcd, certificates generated) | %s |", stats(fresh))
	say("| binary, existing data dir | %s |", stats(existing))
	say("| in-process harness (`harness.Start`) | %s |", stats(inproc))
	say("")
}
