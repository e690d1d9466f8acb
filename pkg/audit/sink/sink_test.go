package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/consumer"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func eventList(users ...string) []byte {
	list := auditv1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "audit.k8s.io/v1", Kind: "EventList"}}
	for i, u := range users {
		list.Items = append(list.Items, auditv1.Event{
			TypeMeta: metav1.TypeMeta{APIVersion: "audit.k8s.io/v1", Kind: "Event"},
			Level:    auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete,
			AuditID: types.UID(strings.Repeat("a", i+1)), Verb: "get", RequestURI: "/api",
			User: authnv1.UserInfo{Username: u},
		})
	}
	b, _ := json.Marshal(list)
	return b
}

func post(t *testing.T, s *Sink, body []byte) int {
	t.Helper()
	resp, err := http.Post(s.URL()+"/audit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSinkStoresEventsPerUser(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	files, err := consumer.NewFiles(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	s, err := Start(Options{Consumer: consumer.Union(files, consumer.NewLines(&out))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code := post(t, s, eventList("alice", "system:serviceaccount:kube-system:x", "../etc/passwd", "alice")); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if n := len(s.Events()); n != 4 {
		t.Errorf("%d events in memory", n)
	}
	for name, lines := range map[string]int{"alice.log": 2, "system_serviceaccount_kube-system_x.log": 1, ".._etc_passwd.log": 1} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := strings.Count(string(data), "\n"); got != lines {
			t.Errorf("%s: %d lines, want %d", name, got, lines)
		}
	}
	if strings.Count(out.String(), "\n") != 4 {
		t.Errorf("writer got %q", out.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("files %v: a user name escaped the output directory?", entries)
	}
}

func TestSinkRejectsBadBodies(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, body := range []string{"", "{", `{"apiVersion":"v1","kind":"Pod"}`, `{"apiVersion":"audit.k8s.io/v1","kind":"EventList","items":[{}]}`, "\x00\x01"} {
		if code := post(t, s, []byte(body)); code != http.StatusBadRequest {
			t.Errorf("body %q: status %d, want 400", body, code)
		}
	}
	if s.BadRequests() != 5 || len(s.Events()) != 0 {
		t.Errorf("bad requests %d, events %d", s.BadRequests(), len(s.Events()))
	}
	if code := post(t, s, eventList("bob")); code != http.StatusOK {
		t.Errorf("good body after bad ones: %d", code)
	}
}

func TestSinkFaultsAndAttempts(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.FailNext(2, http.StatusTooManyRequests)
	codes := []int{post(t, s, eventList("a")), post(t, s, eventList("a")), post(t, s, eventList("a"))}
	if codes[0] != 429 || codes[1] != 429 || codes[2] != 200 {
		t.Errorf("codes %v", codes)
	}
	attempts := s.Attempts()
	if len(attempts) != 3 {
		t.Fatalf("attempts %+v", attempts)
	}
	for i, a := range attempts {
		if a.Events != 1 || a.Batch != "a/ResponseComplete" {
			t.Errorf("attempt %d: %+v, want the one event of batch a/ResponseComplete", i, a)
		}
	}

	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Post(s.URL(), "application/json", bytes.NewReader(eventList("a"))); err == nil {
		t.Errorf("delivery succeeded while down")
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	s.SetLatency(100 * time.Millisecond)
	start := time.Now()
	if code := post(t, s, eventList("a")); code != 200 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("after up with latency: %d in %s", code, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, func(e []auditv1.Event) bool { return len(e) == 2 }); err != nil {
		t.Error(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := s.WaitFor(ctx2, func(e []auditv1.Event) bool { return len(e) == 99 }); err == nil {
		t.Error("WaitFor for an impossible condition returned nil")
	}
}

func TestControlHandler(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.ControlHandler()
	do := func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec
	}
	if rec := do("POST", "/fail?count=1&status=500"); rec.Code != 200 {
		t.Fatalf("/fail: %d", rec.Code)
	}
	if code := post(t, s, eventList("a")); code != 500 {
		t.Errorf("injected failure: %d", code)
	}
	for _, bad := range []string{"/fail?count=x", "/fail?count=1&status=200", "/latency?duration=soon"} {
		if rec := do("POST", bad); rec.Code != 400 {
			t.Errorf("%s: %d, want 400", bad, rec.Code)
		}
	}
	rec := do("GET", "/stats")
	var stats map[string]int
	if err := json.Unmarshal(rec.Body.Bytes(), &stats); err != nil || stats["attempts"] != 1 {
		t.Errorf("/stats %s %v", rec.Body.String(), err)
	}
}
