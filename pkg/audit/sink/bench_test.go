package sink

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/consumer"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// body400 is a webhook delivery of 400 events (the default batch size) of
// two users.
func body400() []byte {
	users := make([]string, 400)
	for i := range users {
		users[i] = []string{"alice", "bob"}[i%2]
	}
	return eventList(users...)
}

func BenchmarkDecodeEventList400(b *testing.B) {
	body := body400()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeEventList(body); err != nil {
			b.Fatal(err)
		}
	}
}

// A whole delivery as audit-sink --output-dir D --per-user receives it:
// decode, one JSON line per event, one write per user file.
func BenchmarkDeliverPerUser400(b *testing.B) {
	files, err := consumer.NewFiles(b.TempDir(), true)
	if err != nil {
		b.Fatal(err)
	}
	defer files.Close()
	s, err := Start(Options{Consumer: files, DiscardInMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := body400()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.handle(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
