package sink

import (
	"testing"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// Any body is either a valid EventList or an error, never a panic.
func FuzzDecodeEventList(f *testing.F) {
	f.Add(eventList("alice", "bob"))
	f.Add([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"EventList","items":[{}]}`))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod"}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := events.DecodeEventList(body)
		if err != nil {
			return
		}
		for _, e := range list.Items {
			if e.AuditID == "" || e.Stage == "" || e.Level == "" {
				t.Fatalf("accepted an incomplete event: %+v", e)
			}
		}
	})
}
