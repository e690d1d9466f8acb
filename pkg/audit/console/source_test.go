package console

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/internal/poll"
)

// logLine is request i's event at stage, as a log has it, a second per
// request from t0.
func logLine(t *testing.T, i int, stage auditv1.Stage) string {
	t.Helper()
	at := metav1.NewMicroTime(t0.Add(time.Duration(i) * time.Second))
	e := auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, Level: auditv1.LevelMetadata,
		AuditID: types.UID(fmt.Sprintf("req-%03d", i)), Stage: stage, Verb: "get", RequestURI: fmt.Sprintf("/api/v1/namespaces/default/configmaps/cm-%d", i),
		User:                     authnv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
		ObjectRef:                &auditv1.ObjectReference{Resource: "configmaps", Namespace: "default", Name: fmt.Sprintf("cm-%d", i), APIVersion: "v1"},
		RequestReceivedTimestamp: at, StageTimestamp: at}
	if stage == auditv1.StageResponseComplete {
		e.StageTimestamp = metav1.NewMicroTime(at.Add(2 * time.Millisecond))
		e.ResponseStatus = &metav1.Status{Code: 200}
	}
	line, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(line) + "\n"
}

// requests are the lines of requests from to to (excluded), both stages.
func requests(t *testing.T, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(logLine(t, i, auditv1.StageRequestReceived) + logLine(t, i, auditv1.StageResponseComplete))
	}
	return b.String()
}

// writeAged writes a file and dates it, as rotation leaves them: the
// older the file, the older its time.
func writeAged(t *testing.T, path string, data []byte, age time.Duration) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// follow runs FollowLogs until the test ends; its error, if it stops.
func follow(t *testing.T, store *Store, paths ...string) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- FollowLogs(ctx, store, paths, 10*time.Millisecond) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("FollowLogs: %v", err)
		}
	})
	return done
}

// smallChunks makes the past read in chunks of n bytes, to cross lines.
func smallChunks(t *testing.T, n int64) {
	old := chunkSize
	chunkSize = n
	t.Cleanup(func() { chunkSize = old })
}

// A rotated set is read from its end, the past behind, chunk by chunk
// (here shorter than a line, so lines cross chunks and files): every
// request once, in time order, its events whole (a request begun in one
// file and done in the next), each detail its own; a line that is not an
// event counted where it is; the line being written when the log was
// opened is followed, not torn; what is written next comes on top.
func TestReadsALogSetNewestFirst(t *testing.T) {
	smallChunks(t, 300)
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	writeAged(t, log+".2.gz", gzipped(t, requests(t, 0, 10)), 2*time.Hour)
	older := requests(t, 10, 19) + "not an event\n" + logLine(t, 19, auditv1.StageRequestReceived)
	writeAged(t, log+".1", []byte(older), time.Hour)
	halfway := logLine(t, 30, auditv1.StageRequestReceived)
	active := logLine(t, 19, auditv1.StageResponseComplete) + requests(t, 20, 30) + halfway[:40]
	writeAged(t, log, []byte(active), 0)

	s := NewStore(0)
	follow(t, s, log)
	poll.Until(t, "the past read", func() bool { st := s.Stats(); return st.Backlog == 0 && st.Events == 60 })
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(halfway[40:] + logLine(t, 30, auditv1.StageResponseComplete)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	poll.Until(t, "the followed request", func() bool { return s.Stats().Events == 62 })

	page := s.Query(Query{Limit: 100})
	if page.Total != 31 || page.Stats.Requests != 31 {
		t.Fatalf("%d requests (%d seen), want 31", page.Total, page.Stats.Requests)
	}
	for i, row := range page.Rows {
		want := fmt.Sprintf("req-%03d", 30-i)
		if row.ID != want || row.Open || row.Code != 200 || len(row.Stages) != 2 || row.Stages[0].Stage != "RequestReceived" {
			t.Errorf("row %d: %s (open %v, code %d, stages %v), want %s done", i, row.ID, row.Open, row.Code, row.Stages, want)
		}
		d, err := s.detail(row.ID, nil)
		if err != nil {
			t.Fatalf("detail of %s: %v", row.ID, err)
		}
		for _, raw := range d.Events {
			var e auditv1.Event
			if err := json.Unmarshal(raw, &e); err != nil || string(e.AuditID) != row.ID {
				t.Errorf("%s's detail holds an event of %s (%v)", row.ID, e.AuditID, err)
			}
		}
	}
	// The problem is where it is: after the 18 lines of requests 10 to 18.
	where := fmt.Sprintf("%s.1 (byte %d): ", log, len(requests(t, 10, 19)))
	if st := page.Stats; st.Unparsed != 1 || !strings.HasPrefix(st.LastProblem, where) || st.Unread != 0 {
		t.Errorf("problems: %d, last %q (want it at %q), unread %d", st.Unparsed, st.LastProblem, where, st.Unread)
	}
}

// The past is read only as far as the store keeps: with room for 5
// requests, the newest 5 are kept and the rest of the set is left unread
// (and said to be), not read to be forgotten.
func TestPastStopsAtTheCapacity(t *testing.T) {
	smallChunks(t, 1000)
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	writeAged(t, log+".1", []byte(requests(t, 0, 50)), time.Hour)
	writeAged(t, log, []byte(requests(t, 50, 60)), 0)
	s := NewStore(5)
	follow(t, s, log)
	poll.Until(t, "the past read", func() bool { st := s.Stats(); return st.Events > 0 && st.Backlog == 0 })
	page := s.Query(Query{})
	var ids []string
	for _, row := range page.Rows {
		ids = append(ids, row.ID)
	}
	if got := strings.Join(ids, ","); got != "req-059,req-058,req-057,req-056,req-055" {
		t.Errorf("kept %s", got)
	}
	// A chunk past the capacity is read, and no more: far less than all.
	st := page.Stats
	if st.Unread <= int64(len(requests(t, 0, 40))) || st.Events >= 40 {
		t.Errorf("read %d events, %d bytes left unread: the past should stop at the capacity", st.Events, st.Unread)
	}
}

// A binary file among the rotated ones is refused by name, as auditctl view
// refuses it.
func TestBinaryLogIsRefused(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	writeAged(t, log+".1", []byte{0x7f, 'E', 'L', 'F', 0, 0, 1}, time.Hour)
	writeAged(t, log, []byte(requests(t, 0, 1)), 0)
	err := FollowLogs(context.Background(), NewStore(0), []string{log}, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), log+".1 is not a text audit log (binary content)") {
		t.Errorf("FollowLogs: %v", err)
	}
}

// shrunk is a file truncated in place after it was opened: reads past
// size come back short.
type shrunk struct {
	data []byte
	size int64
}

func (s shrunk) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := copy(p, s.data[off:min(int64(len(s.data)), s.size)])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// A log truncated in place (copytruncate) while its past is read back is
// left where it shrank: nothing read twice or made up from a short read,
// the rest counted unread.
func TestPastOfATruncatedLog(t *testing.T) {
	smallChunks(t, 1000)
	data := []byte(requests(t, 0, 20))
	s := NewStore(0)
	l := &logReader{store: s, path: "audit.log", left: int64(len(data))}
	s.past(l.left, 0, 0)
	r := shrunk{data, int64(len(data)) / 2}
	if stopped, err := l.readBack(context.Background(), l.path, r, int64(len(data)), int64(len(data))); stopped || err != nil {
		t.Fatalf("readBack: stopped %v, %v", stopped, err)
	}
	s.past(0, 0, l.left)
	if st := s.Stats(); st.Events != 0 || st.Unparsed != 0 || st.Unread != int64(len(data)) || st.Backlog != 0 {
		t.Errorf("after a short read: %+v", st)
	}
}
