package sink

import "testing"

// Decoding a webhook delivery of 400 events (the default batch size).
func BenchmarkDecodeEventList400(b *testing.B) {
	users := make([]string, 400)
	for i := range users {
		users[i] = "alice"
	}
	body := eventList(users...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEventList(body); err != nil {
			b.Fatal(err)
		}
	}
}
