// Package proc holds the small helpers the harness, the end-to-end
// tests and the benchmarks share for running processes; it is internal, as
// envtest keeps such parts, so that the harness's API is only the harness.
package proc

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// FreePort returns a loopback TCP port that was free a moment ago, for a
// process that must be told its port (the server binary, etcd, the sink
// binary). Whoever starts that process retries if another took the port in
// between; the in-process server is handed a bound listener instead.
//
// The port is below the kernel's ephemeral range where there is one: a
// port the kernel hands out (to a bind of port 0, or as the local port of
// any outgoing connection) can be taken while the process that owns it is
// down, and a member restarted on its ports (etcd after a fault test's
// kill) would find it in use. Ports below the range are only ever taken by
// name, so the risk is left to two picks of the same one.
func FreePort() (int, error) {
	if low, ok := ephemeralLow(); ok && low > 2048 {
		from := max(1024, low-16384)
		for range 64 {
			port := from + rand.IntN(low-from)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux).
func ephemeralLow() (int, bool) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return 0, false
	}
	low, err := strconv.Atoi(fields[0])
	return low, err == nil
}

// SyncBuffer collects a process's output while it runs; safe to read while
// the process writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
