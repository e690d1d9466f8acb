package server

import (
	"testing"
	"time"
)

func TestSinceStart(t *testing.T) {
	// A command name with a space and a parenthesis, starttime 123456 ticks.
	stat := []byte("4242 (mini (x) s) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 123456 1 2 3 4\n")
	for _, tc := range []struct {
		name      string
		stat      []byte
		sinceBoot time.Duration
		want      time.Duration
		ok        bool
	}{
		{"started 250 ms ago", stat, 1234560*time.Millisecond + 250*time.Millisecond, 250 * time.Millisecond, true},
		{"clock behind the start", stat, 1234 * time.Second, 0, false},
		{"no command name", []byte("4242 S 1"), time.Hour, 0, false},
		{"too few fields", []byte("4242 (mini) S 1 2 3"), time.Hour, 0, false},
		{"starttime not a number", []byte("4242 (mini) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 x 1"), time.Hour, 0, false},
	} {
		got, ok := sinceStart(tc.stat, tc.sinceBoot)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: sinceStart = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
