package logview

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/poll"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logfile"
)

// Follow keeps every line, once, across what the server's log writer
// survives: each case writes events with pkg/audit/logfile, changes the
// file between two batches, and expects every event seen exactly once.
func TestFollowAcrossTheToolsAroundTheLog(t *testing.T) {
	copyFile := func(t *testing.T, from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		// change runs right after the second batch, which the follower may
		// or may not have read by then.
		change func(t *testing.T, path string, write func(from, to int))
	}{
		{name: "mv", change: func(t *testing.T, path string, write func(int, int)) {
			mustRename(t, path, path+".1")
		}},
		{name: "rm", change: func(t *testing.T, path string, write func(int, int)) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rm -r directory", change: func(t *testing.T, path string, write func(int, int)) {
			if err := os.RemoveAll(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "copytruncate, read before the copy", change: func(t *testing.T, path string, write func(int, int)) {
			copyFile(t, path, path+".1")
			write(100, 105) // after the copy, before the truncate
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "copytruncate", change: func(t *testing.T, path string, write func(int, int)) {
			copyFile(t, path, path+".1")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit", "audit.log")
			w, err := logfile.Open(logfile.Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			write := func(from, to int) {
				for i := from; i < to; i++ {
					if _, err := fmt.Fprintln(w, event(fmt.Sprintf("e%03d", i), "ResponseComplete", "get", "2026-01-01T00:00:00.000000Z", "")); err != nil {
						t.Fatal(err)
					}
				}
			}
			write(0, 50)
			var mu sync.Mutex
			seen := map[string]int{}
			count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() {
				done <- Follow(ctx, path, 5*time.Millisecond, func(evs []Located, probs []Problem) {
					mu.Lock()
					defer mu.Unlock()
					for _, e := range evs {
						seen[string(e.AuditID)]++
					}
					for _, p := range probs {
						t.Errorf("follower read a broken line: %s", p)
					}
				})
			}()
			poll.Until(t, "the first batch read", func() bool { return count() == 50 })
			write(50, 100)
			tc.change(t, path, write)
			write(200, 250)
			// A last event: the follower reads in file order, so a line
			// read twice is read before it.
			write(250, 251)
			want := 151
			if tc.name == "copytruncate, read before the copy" {
				want = 156
			}
			poll.Until(t, "the last event followed", func() bool { mu.Lock(); defer mu.Unlock(); return seen["e250"] > 0 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != want {
				t.Errorf("followed %d events, want %d", len(seen), want)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("event %s followed %d times", id, n)
				}
			}
		})
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
