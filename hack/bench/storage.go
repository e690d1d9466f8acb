package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

func storage(work string) {
	e, err := harness.StartEtcd(context.Background(), harness.EtcdOptions{Binary: filepath.Join(*binDir, "etcd"), DataDir: filepath.Join(work, "etcd")})
	check(err)
	defer e.Kill()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.URL()}, DialTimeout: 5 * time.Second})
	check(err)
	defer c.Close()
	value := strings.Repeat("x", *objectSize+600) // about a stored 1 KiB pod
	rate := func(op func(i int64) error) float64 {
		var n int64
		ctx, cancel := context.WithTimeout(context.Background(), *duration)
		defer cancel()
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if op(atomic.AddInt64(&n, 1)) != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(t0).Seconds()
	}
	put := rate(func(i int64) error {
		_, err := c.Put(context.Background(), fmt.Sprintf("/registry/pods/bench/p-%d", i), value)
		return err
	})
	get := rate(func(i int64) error {
		_, err := c.Get(context.Background(), fmt.Sprintf("/registry/pods/bench/p-%d", i%1000+1))
		return err
	})
	say("## Storage limit (bin/etcd on loopback, plain etcd client, concurrency %d)\n", *concurrency)
	say("| op | req/s |")
	say("|---|---|")
	say("| put (%d B values) | %.0f |", len(value), put)
	say("| range (one key, linearizable) | %.0f |", get)
}

// etcdHop compares the server-to-etcd hop: the embedded etcd (called in
// process) with an external bin/etcd reached over plain loopback TCP and
// over a unix socket, interleaved as in the throughput comparison.
func etcdHop(work string) {
	dir, err := os.MkdirTemp("", "hop-") // a short path: unix socket paths are limited to 108 bytes
	check(err)
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "etcd.sock")
	e, err := harness.StartEtcd(context.Background(), harness.EtcdOptions{Binary: filepath.Join(*binDir, "etcd"), DataDir: filepath.Join(work, "hop-etcd"), UnixSocket: sock})
	check(err)
	defer e.Kill()
	tcp := e.URL()
	variants := []variant{
		{name: "embedded etcd, called in process (the default)"},
		{name: "bin/etcd, plain loopback TCP", args: []string{"--etcd-servers=" + tcp, "--etcd-prefix=/tcp"}},
		{name: "bin/etcd, unix socket", args: []string{"--etcd-servers=unix://" + sock, "--etcd-prefix=/unix"}},
	}
	say("## The server-to-etcd hop (audit off, concurrency %d, medians of %d interleaved rounds of %s)\n", *concurrency, *rounds, *duration)
	compareGetCreate(work, "hop", "etcd", variants)
}
