package proc

import (
	"net"
	"strconv"
	"testing"
)

// A port given is free and, where the kernel has an ephemeral range, below
// it: never the local port of some connection made meanwhile.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low, ok := ephemeralLow()
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if ok && port >= low {
			t.Errorf("port %d is in the ephemeral range (from %d)", port, low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		l.Close()
	}
}
