package sink

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ControlHandler serves the sink's fault-injection API, for a separate
// listener (the sink's own port goes away on /down):
//
//	POST /fail?count=N&status=503   fail the next N deliveries
//	POST /latency?duration=250ms    delay every response
//	POST /down, POST /up            stop and resume listening
//	GET  /attempts                  the delivery attempts (the last 10,000), as JSON
//	GET  /stats                     counts of events, attempts and bad requests
func (s *Sink) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		count, err := strconv.Atoi(r.URL.Query().Get("count"))
		if err != nil || count < 0 {
			http.Error(w, "count: a non-negative integer is required", http.StatusBadRequest)
			return
		}
		status := http.StatusServiceUnavailable
		if v := r.URL.Query().Get("status"); v != "" {
			if status, err = strconv.Atoi(v); err != nil || status < 400 || status > 599 {
				http.Error(w, "status: an HTTP error status (400-599) is required", http.StatusBadRequest)
				return
			}
		}
		s.FailNext(count, status)
	})
	mux.HandleFunc("POST /latency", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("duration"))
		if err != nil || d < 0 {
			http.Error(w, "duration: a non-negative Go duration (e.g. 250ms) is required", http.StatusBadRequest)
			return
		}
		s.SetLatency(d)
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Down(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Up(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /attempts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Attempts())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		attempts := 0
		for _, n := range s.byStatus {
			attempts += n
		}
		stats := map[string]int{"events": len(s.events), "attempts": attempts, "badRequests": s.badRequests}
		s.mu.Unlock()
		writeJSON(w, stats)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
