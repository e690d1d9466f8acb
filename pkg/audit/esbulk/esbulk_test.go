package esbulk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// store answers bulk requests as Elasticsearch does, with the item status
// statusFor gives each document id; it keeps what it stored.
type store struct {
	mu        sync.Mutex
	stored    map[string]int
	requests  int
	statusFor func(id string, attempt int) int
	attempts  map[string]int
}

func newStore(statusFor func(id string, attempt int) int) (*store, *httptest.Server) {
	s := &store{stored: map[string]int{}, attempts: map[string]int{}, statusFor: statusFor}
	return s, httptest.NewServer(http.HandlerFunc(s.bulk))
}

func (s *store) bulk(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.URL.Path != "/base/_bulk" || r.URL.Query().Get("q") != "1" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "bad request line "+r.URL.String(), http.StatusBadRequest)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	var items []map[string]map[string]int
	errs := false
	for sc.Scan() {
		var action map[string]map[string]string
		_ = json.Unmarshal(sc.Bytes(), &action)
		id := action["create"]["_id"]
		if !sc.Scan() {
			break
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil || doc["@timestamp"] == nil {
			http.Error(w, "document without @timestamp", http.StatusBadRequest)
			return
		}
		s.attempts[id]++
		status := s.statusFor(id, s.attempts[id])
		if status == http.StatusCreated {
			if s.stored[id] > 0 {
				status = http.StatusConflict
			}
			s.stored[id]++
		}
		if status >= 300 {
			errs = true
		}
		items = append(items, map[string]map[string]int{"create": {"status": status}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs, "items": items})
}

func docs(t *testing.T, n int) []Doc {
	t.Helper()
	var out []Doc
	for i := range n {
		d, err := NewDoc(&auditv1.Event{AuditID: types.UID("id" + fmt.Sprint(i)), Stage: auditv1.StageResponseComplete,
			StageTimestamp: metav1.NewMicroTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))}, "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestDocIsTheEventWithATimestamp(t *testing.T) {
	d := docs(t, 1)[0]
	if d.ID != "id0/ResponseComplete" || !bytes.HasPrefix(d.Body, []byte(`{"@timestamp":"2026-12-01T00:00:00Z",`)) {
		t.Errorf("doc %s %s", d.ID, d.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil || m["auditID"] != "id0" {
		t.Errorf("doc body is not the event: %v %s", err, d.Body)
	}
}

func TestBulkSortsItems(t *testing.T) {
	status := map[string]int{"id0/ResponseComplete": 201, "id1/ResponseComplete": 409, "id2/ResponseComplete": 429, "id3/ResponseComplete": 400}
	_, srv := newStore(func(id string, _ int) int { return status[id] })
	defer srv.Close()
	c, err := NewClient(ClientOptions{URL: srv.URL + "/base?q=1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Bulk(context.Background(), docs(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	if res.Done != 2 || len(res.Retry) != 1 || res.Retry[0].ID != "id2/ResponseComplete" || len(res.Rejected) != 1 || !strings.HasPrefix(res.Reason, "status 400") {
		t.Errorf("result %+v", res)
	}
}

func TestNewClientRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "es:9200", "ftp://es", "http://"} {
		if _, err := NewClient(ClientOptions{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}

// The buffer retries what the store refuses for now, stores every document
// once, and refuses offers beyond its capacity.
func TestBufferRetriesUntilStored(t *testing.T) {
	// The store answers nothing until the offers are checked: a batch in
	// flight stays in the buffer, so the buffer is full when the third
	// offer comes, however soon the first batch is sent.
	offered := make(chan struct{})
	st, srv := newStore(func(id string, attempt int) int {
		<-offered
		if attempt <= 2 && strings.HasSuffix(id, "7/ResponseComplete") {
			return http.StatusTooManyRequests
		}
		return http.StatusCreated
	})
	defer srv.Close()
	c, err := NewClient(ClientOptions{URL: srv.URL + "/base?q=1"})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuffer(c, BufferOptions{Capacity: 100, BatchSize: 10, FlushInterval: 10 * time.Millisecond, Backoff: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	all := docs(t, 100)
	if !b.Offer(all[:60]) || !b.Offer(all[60:]) {
		t.Fatal("offers within capacity refused")
	}
	if b.Offer(docs(t, 1)) {
		t.Error("an offer beyond capacity was taken")
	}
	close(offered)
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Stored < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.Close(context.Background())
	s := b.Stats()
	if s.Stored != 100 || s.Refused != 1 || s.Retries == 0 || s.Buffered != 0 || s.Expired != 0 {
		t.Errorf("stats %+v", s)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, n := range st.stored {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if len(st.stored) != 100 {
		t.Errorf("%d documents stored", len(st.stored))
	}
}

// A store that stays down: the documents expire after MaxRetryDuration and
// are counted.
func TestBufferExpiresWhatCannotBeStored(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := NewClient(ClientOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuffer(c, BufferOptions{BatchSize: 5, FlushInterval: 5 * time.Millisecond, Backoff: Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}, MaxRetryDuration: 50 * time.Millisecond})
	b.Offer(docs(t, 10))
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Expired < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	b.Close(ctx)
	if s := b.Stats(); s.Expired != 10 || s.Stored != 0 || s.Buffered != 0 {
		t.Errorf("stats %+v", s)
	}
}
