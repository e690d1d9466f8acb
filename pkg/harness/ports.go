package harness

import "net"

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
