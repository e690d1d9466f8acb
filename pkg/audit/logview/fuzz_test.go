package logview

import (
	"testing"
)

// auditctl's reader: any bytes give events and problems, never a panic,
// and every problem names a line within the input.
func FuzzParseLines(f *testing.F) {
	f.Add([]byte(event("a", "RequestReceived", "get", "2026-01-01T00:00:00.000000Z", "") + "\n"))
	f.Add([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Meta`))
	f.Add([]byte("\n\n{}\n[]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, problems := ParseLines("f", data)
		lines := 1
		for _, b := range data {
			if b == '\n' {
				lines++
			}
		}
		for _, p := range problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem at line %d of %d", p.Line, lines)
			}
		}
		_ = Verify(events, problems, nil)
		for i := range events {
			_ = Format(&events[i].Event)
		}
	})
}
