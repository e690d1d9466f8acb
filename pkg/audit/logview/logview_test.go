package logview

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func event(id, stage, verb, ts string, extra string) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":%q,"requestURI":"/api/v1/namespaces/ns/pods","verb":%q,"user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"ns","name":"p","apiVersion":"v1"},"stageTimestamp":%q%s}`,
		id, stage, verb, ts, extra)
}

func write(t *testing.T, dir, name, content string, gz bool) string {
	t.Helper()
	p := filepath.Join(dir, name)
	data := []byte(content)
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadInTimeOrderAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	old := write(t, dir, "audit-2026-01-01T00-00-00.000.log.gz",
		event("a", "RequestReceived", "create", "2026-01-01T00:00:00.000001Z", "")+"\n", true)
	mid := write(t, dir, "audit-2026-01-01T00-00-01.000.log",
		event("a", "ResponseComplete", "create", "2026-01-01T00:00:00.500000Z", `,"responseStatus":{"code":201},"annotations":{"authorization.k8s.io/decision":"allow"}`)+"\n", false)
	active := write(t, dir, "audit.log", event("b", "RequestReceived", "get", "2026-01-01T00:00:02.000000Z", "")+"\n", false)
	events, problems, err := ReadFiles([]string{active, mid, old}, nil)
	if err != nil || len(problems) != 0 {
		t.Fatal(err, problems)
	}
	var order []string
	for _, e := range events {
		order = append(order, string(e.AuditID)+"/"+string(e.Stage))
	}
	if strings.Join(order, " ") != "a/RequestReceived a/ResponseComplete b/RequestReceived" {
		t.Errorf("order %v", order)
	}
	line := Format(&events[1].Event)
	for _, want := range []string{"00:00:00.500", "ResponseComplete", "Metadata", "alice", "create", "pods ns/p", "201", "allow"} {
		if !strings.Contains(line, want) {
			t.Errorf("Format lacks %q: %s", want, line)
		}
	}
	if !(Filter{User: "alice", Code: 201}).Match(&events[1].Event) || (Filter{Verb: "get"}).Match(&events[1].Event) {
		t.Errorf("filter")
	}
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	good := event("a", "RequestReceived", "get", "2026-01-01T00:00:00.000000Z", "") + "\n" +
		event("a", "ResponseComplete", "get", "2026-01-01T00:00:01.000000Z", "") + "\n"
	watch := event("w", "RequestReceived", "watch", "2026-01-01T00:00:00.000000Z", "") + "\n" +
		event("w", "ResponseComplete", "watch", "2026-01-01T00:00:05.000000Z", "") + "\n"
	open := event("o", "RequestReceived", "create", "2026-01-01T00:00:02.000000Z", "") + "\n"
	// A watch still streaming (a controller's): not a problem.
	streaming := event("s", "RequestReceived", "watch", "2026-01-01T00:00:03.000000Z", "") + "\n" +
		event("s", "ResponseStarted", "watch", "2026-01-01T00:00:03.000000Z", "") + "\n"
	torn := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Meta`
	f := write(t, dir, "audit.log", good+watch+open+streaming+torn, false)
	events, problems, err := ReadFiles([]string{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(events, problems, nil)
	var got []string
	for _, p := range r.Problems {
		got = append(got, p.String())
	}
	want := []string{
		f + ":3: audit ID w (watch /api/v1/namespaces/ns/pods): ResponseComplete without ResponseStarted",
		f + ":5: audit ID o (create /api/v1/namespaces/ns/pods): RequestReceived without ResponseComplete or Panic",
		f + ":8: torn last line (no newline",
	}
	if len(got) != 3 {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d: %s, want prefix %s", i, got[i], w)
		}
	}
	byID := func(id string) []Located {
		var out []Located
		for _, e := range events {
			if string(e.AuditID) == id {
				out = append(out, e)
			}
		}
		return out
	}
	if r := Verify(byID("a"), nil, nil); !r.OK() {
		t.Errorf("good pair: %v", r.Problems)
	}
	if r := Verify(byID("w"), nil, []auditv1.Stage{auditv1.StageResponseStarted}); !r.OK() {
		t.Errorf("watch with ResponseStarted omitted by policy: %v", r.Problems)
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "audit.log", event("old", "ResponseComplete", "get", "2026-01-01T00:00:00.000000Z", "")+"\n", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	done := make(chan error)
	go func() {
		done <- Follow(ctx, path, 10*time.Millisecond, func(evs []Located, _ []Problem) {
			for _, e := range evs {
				got <- string(e.AuditID)
			}
		})
	}()
	next := func() string {
		select {
		case id := <-got:
			return id
		case <-time.After(5 * time.Second):
			return "(nothing)"
		}
	}
	if id := next(); id != "old" {
		t.Fatalf("existing content: %s", id)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	f.WriteString(event("new1", "ResponseComplete", "get", "2026-01-01T00:00:01.000000Z", "") + "\n")
	f.Close()
	if id := next(); id != "new1" {
		t.Fatalf("after append: %s", id)
	}
	// Rotation: the file is renamed and a new one started.
	os.Rename(path, filepath.Join(dir, "audit-2026-01-01T00-00-02.000.log"))
	write(t, dir, "audit.log", event("new2", "ResponseComplete", "get", "2026-01-01T00:00:02.000000Z", "")+"\n", false)
	if id := next(); id != "new2" {
		t.Fatalf("after rotation: %s", id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
