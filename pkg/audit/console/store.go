// Package console is the live audit console: an in-memory index of audit
// events grouped into requests by audit ID, queried with filters and pages
// on the server side, and a web page (embedded) that shows it and follows
// it live with server-sent events. `auditctl console` feeds it from a log
// (the rotated set, then following), `audit-sink --console-address` from
// webhook deliveries.
package console

import (
	"cmp"
	"context"
	stdjson "encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// DefaultCapacity is how many requests a store keeps: the oldest are
// forgotten beyond it (counted in Stats.Forgotten).
const DefaultCapacity = 100_000

// reasonAnnotation is the authorizer's reason, beside its decision.
const reasonAnnotation = "authorization.k8s.io/reason"

// Store is the requests seen so far, ordered by when they were received:
// a log is read newest first and its past filled in behind, several logs
// side by side, so a request's place is its time, not its arrival.
type Store struct {
	capacity int

	mu      sync.RWMutex
	byID    map[string]*request
	byTime  *btree.BTreeG[*request] // by receipt, then audit ID
	adds    int64                   // calls of add, to know what one took
	stats   Stats
	version int64
	changed chan struct{} // closed and replaced at each change
}

// Stats are what the store took in, shown so that nothing is hidden.
type Stats struct {
	Events   int64 `json:"events"`
	Requests int64 `json:"requests"`
	// Unparsed are lines (or delivered bodies) that were not audit events.
	Unparsed int64 `json:"unparsed"`
	// LastProblem is the latest of those, where and why.
	LastProblem string `json:"lastProblem,omitempty"`
	// Forgotten are requests dropped from memory beyond the capacity.
	Forgotten int64 `json:"forgotten"`
	// Dropped are events the source says it lost before they got here
	// (e.g. a log file deleted before it was read).
	Dropped int64 `json:"dropped"`
	// Backlog is how many bytes of the logs, as they were when opened, are
	// still to be read (newest first: the past fills in behind).
	Backlog int64 `json:"backlog"`
	// Unread is how many bytes of the logs' past were not read because
	// their requests are older than the capacity keeps.
	Unread int64 `json:"unread"`
}

// request is one audit ID's events.
type request struct {
	id    string
	log   string
	start time.Time // when it was received
	// received says start is a RequestReceivedTimestamp, not a guess
	// from a stage's time.
	received bool
	// events are its events as written, in the order of their stages.
	events []event
	notes  []string  // annotation values, for the text filter
	codeAt time.Time // the stage time of the code in row
	// add is the store's add that last took one of its events; 0 before
	// it is placed in the order.
	add  int64
	row  Row
	text string // lower-case haystack for free-text search
}

// event is one event of a request: its stage, when, and its line.
type event struct {
	stage string
	at    time.Time
	line  []byte
}

// entry is one event to add: its brief and its JSON.
type entry struct {
	brief
	line []byte
}

// older orders requests by when they were received, then by audit ID.
func older(a, b *request) bool {
	if !a.start.Equal(b.start) {
		return a.start.Before(b.start)
	}
	return a.id < b.id
}

// NewStore returns an empty store keeping at most capacity requests
// (DefaultCapacity when 0).
func NewStore(capacity int) *Store {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Store{capacity: capacity, byID: map[string]*request{}, byTime: btree.NewG(32, older), changed: make(chan struct{})}
}

// Add takes decoded events (a webhook's delivery, a test's). Each is kept
// as a log line would have it: the items of an EventList carry no kind.
func (s *Store) Add(evs ...auditv1.Event) {
	entries := make([]entry, 0, len(evs))
	for _, e := range evs {
		e.TypeMeta = metav1.TypeMeta{Kind: "Event", APIVersion: auditv1.SchemeGroupVersion.String()}
		line, err := stdjson.Marshal(&e)
		if err != nil {
			s.Problem(fmt.Sprintf("event %s: %v", e.AuditID, err))
			continue
		}
		entries = append(entries, entry{briefOf(&e), line})
	}
	s.add("", entries)
}

// add takes events of one log (named in its rows when there are several),
// in any order. It reports whether a request it took was forgotten at
// once, older than all the capacity keeps: a reader of the past stops.
func (s *Store) add(log string, entries []entry) (forgotten bool) {
	if len(entries) == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adds++
	var touched []*request
	for i := range entries {
		e := &entries[i]
		s.stats.Events++
		r := s.byID[e.AuditID]
		if r == nil {
			r = &request{id: e.AuditID, log: log}
			s.byID[r.id] = r
			s.stats.Requests++
		}
		if r.add != s.adds {
			// Its place may move: out of the order until it is done.
			if r.add != 0 {
				s.byTime.Delete(r)
			}
			r.add = s.adds
			touched = append(touched, r)
		}
		r.take(&e.brief, e.line)
	}
	for _, r := range touched {
		r.finish()
		s.byTime.ReplaceOrInsert(r)
	}
	for s.byTime.Len() > s.capacity {
		r, _ := s.byTime.DeleteMin()
		delete(s.byID, r.id)
		s.stats.Forgotten++
		forgotten = forgotten || r.add == s.adds
	}
	s.bump()
	return forgotten
}

// Consume adds a delivery's events: consumer.Consumer, for the webhook
// receiver.
func (s *Store) Consume(evs []auditv1.Event) error {
	s.Add(evs...)
	return nil
}

// Reject shows a delivery that was not an EventList as a problem.
func (s *Store) Reject(err error) { s.Problem("a delivery: " + err.Error()) }

// Problem counts a line or body that was not an audit event.
func (s *Store) Problem(where string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Unparsed++
	s.stats.LastProblem = where
	s.bump()
}

// problems counts lines that were not audit events.
func (s *Store) problems(where []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Unparsed += int64(len(where))
	s.stats.LastProblem = where[len(where)-1]
	s.bump()
}

// Dropped counts events the source lost.
func (s *Store) Dropped(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Dropped += n
	s.bump()
}

// past counts the logs' past: bytes added to the backlog, read from it,
// or left unread (older than the capacity keeps, or unreadable).
func (s *Store) past(added, read, unread int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Backlog += added - read - unread
	s.stats.Unread += unread
	s.bump()
}

func (s *Store) bump() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns what the store took in so far.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// Version is a number that grows with every change.
func (s *Store) Version() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// Wait returns the version once it is past since, or when ctx is done.
func (s *Store) Wait(ctx context.Context, since int64) int64 {
	for {
		s.mu.RLock()
		v, ch := s.version, s.changed
		s.mu.RUnlock()
		if v > since {
			return v
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v
		}
	}
}

// Stage is one stage of a request as it arrived, with the milliseconds
// since the request was received.
type Stage struct {
	Stage string  `json:"stage"`
	MS    float64 `json:"ms"`
}

// Row is one request as the list shows it.
type Row struct {
	ID           string   `json:"id"`
	Time         string   `json:"time"`
	User         string   `json:"user"`
	Groups       []string `json:"groups,omitempty"`
	Impersonated string   `json:"impersonated,omitempty"`
	Verb         string   `json:"verb"`
	Resource     string   `json:"resource,omitempty"` // resource or resource/subresource
	APIGroup     string   `json:"apiGroup,omitempty"`
	Namespace    string   `json:"namespace,omitempty"`
	Name         string   `json:"name,omitempty"`
	URI          string   `json:"uri"`
	Code         int32    `json:"code,omitempty"`
	Level        string   `json:"level"`
	Decision     string   `json:"decision,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Stages       []Stage  `json:"stages"`
	// Open is true until the request's final stage (ResponseComplete or
	// Panic) has come.
	Open bool `json:"open"`
	// Log is the log the request was read from, when there are several.
	Log string `json:"log,omitempty"`
}

// isResource says whether the row is of resource, given as kubectl names
// one: widgets, widgets/status, or with its group, widgets.example.com.
func (r *Row) isResource(resource string) bool {
	base, _, _ := strings.Cut(r.Resource, "/")
	return r.Resource == resource || base == resource || (r.APIGroup != "" && base+"."+r.APIGroup == resource)
}

// take adds one event. A row is made from all its request's events, not
// the first: the library records what it learns as the request goes (the
// impersonated user after RequestReceived is written, a create's name,
// the code, annotations of admission), a log may omit any stage, and a
// log read newest first gives a request's events latest first.
func (r *request) take(b *brief, line []byte) {
	at := b.StageTimestamp
	i := len(r.events)
	for i > 0 && r.events[i-1].at.After(at) {
		i--
	}
	if r.events == nil {
		r.events = make([]event, 0, 2) // most requests have two
	}
	r.events = slices.Insert(r.events, i, event{b.Stage, at, line})
	if t := b.RequestReceivedTimestamp; !t.IsZero() && (!r.received || t.Before(r.start)) {
		r.start, r.received = t, true
	} else if !r.received && (r.start.IsZero() || at.Before(r.start)) {
		r.start = at
	}
	row := &r.row
	if row.User == "" {
		row.User, row.Groups = b.User.Username, b.User.Groups
	}
	row.Impersonated = cmp.Or(b.Impersonated, row.Impersonated)
	row.URI, row.Verb, row.Level = cmp.Or(row.URI, b.RequestURI), cmp.Or(row.Verb, b.Verb), cmp.Or(row.Level, b.Level)
	if o := b.ObjectRef; o != (briefObject{}) {
		if row.Resource == "" {
			row.Resource, row.APIGroup, row.Namespace = o.Resource, o.APIGroup, o.Namespace
			if o.Subresource != "" {
				row.Resource += "/" + o.Subresource
			}
		}
		row.Name = cmp.Or(o.Name, row.Name) // a create's name is known only once it is done
	}
	if b.Code != 0 && !at.Before(r.codeAt) {
		row.Code, r.codeAt = b.Code, at
	}
	row.Decision, row.Reason = cmp.Or(b.Decision, row.Decision), cmp.Or(b.Reason, row.Reason)
	for _, v := range b.Notes {
		if v != "" && !slices.Contains(r.notes, v) {
			r.notes = append(r.notes, v)
		}
	}
}

// finish makes what the row shows from what its events said. The row's
// time and stages are made when a page shows it (Row).
func (r *request) finish() {
	row := &r.row
	row.ID, row.Log, row.Open = r.id, r.log, true
	for _, e := range r.events {
		if e.stage == string(auditv1.StageResponseComplete) || e.stage == string(auditv1.StagePanic) {
			row.Open = false
		}
	}
	// As the row shows the target too: "pods demo/web".
	h := haystack{make([]byte, 0, 512)} // on the stack, mostly
	for _, n := range r.notes {
		h.add(n)
	}
	h.add(row.User, row.Impersonated, row.Verb, row.Resource, row.APIGroup, row.Namespace+"/"+row.Name, row.URI, row.Level, row.Decision,
		strconv.Itoa(int(row.Code)))
	h.add(row.Groups...)
	r.text = h.String()
}

// Row is the request as a page shows it.
func (r *request) Row() Row {
	row := r.row
	row.Time = r.start.UTC().Format(time.RFC3339Nano)
	row.Stages = make([]Stage, len(r.events))
	for i, e := range r.events {
		row.Stages[i] = Stage{Stage: e.stage, MS: r.ms(e.at)}
	}
	return row
}

// ms is the milliseconds from the request's receipt to t.
func (r *request) ms(t time.Time) float64 { return float64(t.Sub(r.start).Microseconds()) / 1000 }

// haystack is the lower-case text of a row, one field a line, made in one
// allocation: it is made for every request read.
type haystack struct{ b []byte }

func (h *haystack) add(fields ...string) {
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			c := f[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h.b = append(h.b, c)
		}
		h.b = append(h.b, '\n')
	}
}

func (h *haystack) String() string {
	s := string(h.b)
	if !isASCII(h.b) {
		return strings.ToLower(s) // and the rest of Unicode's cases
	}
	return s
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// Query selects requests; empty fields match everything.
type Query struct {
	User      string // the user or the impersonated user
	Group     string
	Verb      string
	Resource  string // resource or resource/subresource
	Namespace string
	Code      string // a class (2xx, 4xx, 5xx) or a code (404)
	Level     string
	Decision  string
	Text      string // in any field or annotation, case-insensitive
	// Since and Until bound when requests were received: [Since, Until).
	Since, Until time.Time
	// Before pages back: only requests older than this one (an audit ID).
	Before string
	Limit  int
}

// ParseQuery reads a Query from URL parameters.
func ParseQuery(get func(string) string) Query {
	q := Query{User: get("user"), Group: get("group"), Verb: get("verb"), Resource: get("resource"), Namespace: get("namespace"),
		Code: get("code"), Level: get("level"), Decision: get("decision"), Text: get("q")}
	q.Limit, _ = strconv.Atoi(get("limit"))
	q.Before = get("before")
	q.Since, _ = time.Parse(time.RFC3339Nano, get("since"))
	q.Until, _ = time.Parse(time.RFC3339Nano, get("until"))
	return q
}

func (q Query) match(r *request) bool {
	row := &r.row
	if q.User != "" && row.User != q.User && row.Impersonated != q.User {
		return false
	}
	if q.Group != "" && !slices.Contains(row.Groups, q.Group) {
		return false
	}
	if q.Verb != "" && row.Verb != q.Verb {
		return false
	}
	if q.Resource != "" && !row.isResource(q.Resource) {
		return false
	}
	if q.Namespace != "" && row.Namespace != q.Namespace {
		return false
	}
	if q.Code != "" {
		code := strconv.Itoa(int(row.Code))
		if len(q.Code) == 3 && strings.HasSuffix(q.Code, "xx") {
			if row.Code == 0 || code[0] != q.Code[0] {
				return false
			}
		} else if code != q.Code {
			return false
		}
	}
	if q.Level != "" && row.Level != q.Level {
		return false
	}
	if q.Decision != "" && row.Decision != q.Decision {
		return false
	}
	if q.Text != "" && !strings.Contains(r.text, strings.ToLower(q.Text)) {
		return false
	}
	if !q.Since.IsZero() && r.start.Before(q.Since) || !q.Until.IsZero() && !r.start.Before(q.Until) {
		return false
	}
	return true
}

// Count is one value and how many matching requests have it.
type Count struct {
	Value string `json:"value"`
	N     int    `json:"n"`
}

// Page is the answer to a query: the newest matching requests first.
type Page struct {
	Rows []Row `json:"rows"`
	// Total is how many requests match; More says older ones follow Rows.
	Total int  `json:"total"`
	More  bool `json:"more"`
	// Counts over every matching request, most frequent first.
	Users []Count `json:"users"`
	Verbs []Count `json:"verbs"`
	Codes []Count `json:"codes"`
	// Timeline is the matching requests per interval, by code class;
	// Latency their duration by verb.
	Timeline Timeline      `json:"timeline"`
	Latency  []VerbLatency `json:"latency"`
	Stats    Stats         `json:"stats"`
	Version  int64         `json:"version"`
	// Source says where the events come from.
	Source string `json:"source"`
}

// MaxLimit bounds one page.
const MaxLimit = 1000

// Query returns the page of requests matching q.
func (s *Store) Query(q Query) Page {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxLimit)
	// Under the lock only what must be: the matching requests' figures are
	// taken, then counted and charted while the store takes events.
	s.mu.RLock()
	p := Page{Rows: []Row{}, Stats: s.stats, Version: s.version}
	matched := make([]figures, 0, s.byTime.Len())
	cursor := s.byID[q.Before]
	s.byTime.Descend(func(r *request) bool {
		if !q.match(r) {
			return true
		}
		matched = append(matched, r.figures())
		switch {
		case q.Before != "" && (cursor == nil || !older(r, cursor)):
		case len(p.Rows) < q.Limit:
			p.Rows = append(p.Rows, r.Row())
		default:
			p.More = true
		}
		return true
	})
	s.mu.RUnlock()
	p.Total = len(matched)
	users, verbs, byCode := map[string]int{}, map[string]int{}, map[int32]int{}
	for _, f := range matched {
		users[f.user]++
		verbs[f.verb]++
		byCode[f.code]++
	}
	codes := map[string]int{}
	for code, n := range byCode {
		name := "open"
		if code != 0 {
			name = strconv.Itoa(int(code))
		}
		codes[name] = n
	}
	p.Users, p.Verbs, p.Codes = counts(users), counts(verbs), counts(codes)
	p.Timeline, p.Latency = timeline(matched), latency(matched)
	return p
}

// figures are what a page counts and charts of a request.
type figures struct {
	user, verb string
	start      time.Time
	code       int32 // 0 while open
	// ms is how long it took from receipt to completion, -1 unless its
	// log has both.
	ms float64
}

func (r *request) figures() figures {
	f := figures{user: r.row.User, verb: r.row.Verb, start: r.start, code: r.row.Code, ms: -1}
	if r.row.Open {
		f.code = 0
	} else if evs := r.events; len(evs) >= 2 && evs[0].stage == string(auditv1.StageRequestReceived) {
		f.ms = r.ms(evs[len(evs)-1].at)
	}
	return f
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for v, n := range m {
		out = append(out, Count{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// lines returns a request's row and its events as written, in the order
// of their stages; false if unknown.
func (s *Store) lines(id string) (Row, [][]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.byID[id]
	if r == nil {
		return Row{}, nil, false
	}
	lines := make([][]byte, len(r.events))
	for i, e := range r.events {
		lines[i] = e.line
	}
	return r.Row(), lines, true
}
