package ship

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
)

// received is a store answering the bulk API; it counts each document id.
type received struct {
	mu  sync.Mutex
	ids map[string]int
}

func (r *received) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sc := bufio.NewScanner(req.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var action map[string]map[string]string
		_ = json.Unmarshal(sc.Bytes(), &action)
		r.ids[action["create"]["_id"]]++
		sc.Scan()
	}
	fmt.Fprint(w, `{"errors":false,"items":[]}`)
}

func (r *received) count(t *testing.T) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := range r.ids {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	return len(r.ids)
}

var seq int

func appendEvents(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range n {
		seq++
		fmt.Fprintf(f, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%d","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"stageTimestamp":"2026-12-01T00:00:00.%06dZ"}`+"\n", seq, seq)
	}
}

func TestShipFollowsRotationsAndResumes(t *testing.T) {
	store := &received{ids: map[string]int{}}
	srv := httptest.NewServer(store)
	defer srv.Close()
	client, err := esbulk.NewClient(esbulk.ClientOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	opts := Options{Log: log, PositionFile: filepath.Join(dir, "position.json"), Client: client, BatchSize: 4}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func(what string, want int) {
		t.Helper()
		if err := s.Once(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := store.count(t); got != want {
			t.Fatalf("%s: %d events in the store, want %d", what, got, want)
		}
	}
	appendEvents(t, log, 10)
	step("first lines", 10)
	appendEvents(t, log, 2)
	step("appended", 12)
	// Built-in rotation: renamed to a timestamped backup, a new file.
	mustRename(t, log, filepath.Join(dir, "audit-2026-12-01T00-00-00.000.log"))
	appendEvents(t, log, 5)
	step("after built-in rotation", 17)
	// copytruncate: a copy, then the log truncated and written again.
	appendEvents(t, log, 3)
	data, _ := os.ReadFile(log)
	mustWrite(t, log+".1", data)
	mustTruncate(t, log)
	appendEvents(t, log, 4)
	step("after copytruncate", 24)
	// The copy compressed: the same file, nothing new.
	gzipFile(t, log+".1", log+".2.gz")
	step("after compression", 24)
	// A file a pass misses (renamed or compressed meanwhile) keeps its
	// position: listed again, it is not sent again.
	aside := filepath.Join(t.TempDir(), "aside")
	mustRename(t, filepath.Join(dir, "audit-2026-12-01T00-00-00.000.log"), aside)
	step("a file missing from a pass", 24)
	gzipFile(t, aside, filepath.Join(dir, "audit-2026-12-01T00-00-00.000.log.gz"))
	step("the file back, compressed", 24)
	// A restart resumes from the position file.
	if s, err = New(opts); err != nil {
		t.Fatal(err)
	}
	step("restart", 24)
	appendEvents(t, log, 1)
	step("restart, then a line", 25)
}

func mustRename(t *testing.T, a, b string) {
	t.Helper()
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustTruncate(t *testing.T, p string) {
	t.Helper()
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
}

func gzipFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(from); err != nil {
		t.Fatal(err)
	}
}
