// Package proc holds the small helpers the harness, the end-to-end
// tests and the benchmarks share for running processes; it is internal, as
// envtest keeps such parts, so that the harness's API is only the harness.
package proc

import (
	"bytes"
	"net"
	"sync"
)

// FreePort returns a loopback TCP port that was free a moment ago, for a
// process that must be told its port (the server binary, etcd, the sink
// binary). Whoever starts that process retries if another took the port in
// between; the in-process server is handed a bound listener instead.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
