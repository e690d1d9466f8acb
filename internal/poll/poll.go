// Package poll waits in tests for a condition, with a deadline, instead of
// a sleep standing in for it.
package poll

import (
	"testing"
	"time"
)

// Until polls cond every 5 ms and fails the test when it is still false
// after 10 s, saying what it waited for.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
