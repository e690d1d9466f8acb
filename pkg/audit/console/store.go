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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// DefaultCapacity is how many requests a store keeps: the oldest are
// forgotten beyond it (counted in Stats.Forgotten).
const DefaultCapacity = 100_000

// reasonAnnotation is the authorizer's reason, beside its decision.
const reasonAnnotation = "authorization.k8s.io/reason"

// Store is the requests seen so far, oldest first.
type Store struct {
	capacity int

	mu      sync.RWMutex
	byID    map[string]*request
	order   []*request // by first arrival; order[head] is the oldest kept
	head    int        // forgotten requests before it, compacted away now and then
	nextSeq int64
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
}

// request is one audit ID's events.
type request struct {
	seq    int64
	id     string
	log    string
	start  time.Time // when it was received
	events []auditv1.Event
	row    Row
	text   string // lower-case haystack for free-text search
}

// NewStore returns an empty store keeping at most capacity requests
// (DefaultCapacity when 0).
func NewStore(capacity int) *Store {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Store{capacity: capacity, byID: map[string]*request{}, changed: make(chan struct{})}
}

// Add takes events in the order they were written.
func (s *Store) Add(evs ...auditv1.Event) { s.AddFrom("", evs...) }

// AddFrom takes events of one log, in the order they were written: a
// request's row names log, when the console reads several.
func (s *Store) AddFrom(log string, evs ...auditv1.Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.stats.Events++
		id := string(e.AuditID)
		r := s.byID[id]
		if r == nil {
			r = &request{seq: s.nextSeq, id: id, log: log}
			s.nextSeq++
			s.byID[id] = r
			s.order = append(s.order, r)
			s.stats.Requests++
		}
		r.events = append(r.events, e)
		r.summarize()
	}
	for len(s.order)-s.head > s.capacity {
		delete(s.byID, s.order[s.head].id)
		s.order[s.head] = nil
		s.head++
		s.stats.Forgotten++
	}
	// Compacting when half is forgotten keeps an Add at capacity O(1)
	// amortised instead of a copy of the whole order each time.
	if s.head > len(s.order)/2 {
		s.order = slices.Clone(s.order[s.head:])
		s.head = 0
	}
	s.bump()
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

// Dropped counts events the source lost.
func (s *Store) Dropped(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Dropped += n
	s.bump()
}

func (s *Store) bump() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
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
	Seq          int64    `json:"seq"`
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

// summarize makes the request's row from all its events, not the first:
// the library records what it learns as the request goes (the impersonated
// user after RequestReceived is written, a create's name, the code,
// annotations of admission), and a log may omit any stage.
func (r *request) summarize() {
	row := Row{ID: r.id, Seq: r.seq, Open: true, Log: r.log}
	var start time.Time
	for i := range r.events {
		e := &r.events[i]
		if t := e.RequestReceivedTimestamp.Time; !t.IsZero() && (start.IsZero() || t.Before(start)) {
			start = t
		}
		if row.User == "" {
			row.User, row.Groups = e.User.Username, e.User.Groups
		}
		if e.ImpersonatedUser != nil {
			row.Impersonated = e.ImpersonatedUser.Username
		}
		row.URI, row.Verb, row.Level = cmp.Or(row.URI, e.RequestURI), cmp.Or(row.Verb, e.Verb), cmp.Or(row.Level, string(e.Level))
		if o := e.ObjectRef; o != nil {
			if row.Resource == "" {
				row.Resource, row.APIGroup, row.Namespace = o.Resource, o.APIGroup, o.Namespace
				if o.Subresource != "" {
					row.Resource += "/" + o.Subresource
				}
			}
			row.Name = cmp.Or(o.Name, row.Name) // a create's name is known only once it is done
		}
	}
	if start.IsZero() {
		start = r.events[0].StageTimestamp.Time
	}
	row.Time = start.UTC().Format(time.RFC3339Nano)
	r.start = start
	var texts []string
	for i := range r.events {
		e := &r.events[i]
		row.Stages = append(row.Stages, Stage{Stage: string(e.Stage), MS: float64(e.StageTimestamp.Sub(start).Microseconds()) / 1000})
		if e.ResponseStatus != nil {
			row.Code = e.ResponseStatus.Code
		}
		if d := e.Annotations[events.DecisionAnnotation]; d != "" {
			row.Decision = d
		}
		if reason := e.Annotations[reasonAnnotation]; reason != "" {
			row.Reason = reason
		}
		if e.Stage == auditv1.StageResponseComplete || e.Stage == auditv1.StagePanic {
			row.Open = false
		}
		for _, v := range e.Annotations {
			texts = append(texts, v)
		}
	}
	r.row = row
	// As the row shows the target too: "pods demo/web".
	texts = append(texts, row.User, row.Impersonated, row.Verb, row.Resource, row.APIGroup, row.Namespace+"/"+row.Name, row.URI, row.Level,
		row.Decision, strconv.Itoa(int(row.Code)), strings.Join(row.Groups, " "))
	r.text = strings.ToLower(strings.Join(texts, "\n"))
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
	// Before pages back: only requests older than this sequence number.
	Before int64
	Limit  int
}

// ParseQuery reads a Query from URL parameters.
func ParseQuery(get func(string) string) Query {
	q := Query{User: get("user"), Group: get("group"), Verb: get("verb"), Resource: get("resource"), Namespace: get("namespace"),
		Code: get("code"), Level: get("level"), Decision: get("decision"), Text: get("q")}
	q.Limit, _ = strconv.Atoi(get("limit"))
	q.Before, _ = strconv.ParseInt(get("before"), 10, 64)
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
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := Page{Rows: []Row{}, Stats: s.stats, Version: s.version}
	users, verbs, codes := map[string]int{}, map[string]int{}, map[string]int{}
	var matched []*request
	for i := len(s.order) - 1; i >= s.head; i-- {
		r := s.order[i]
		if !q.match(r) {
			continue
		}
		matched = append(matched, r)
		p.Total++
		users[r.row.User]++
		verbs[r.row.Verb]++
		code := "open"
		if r.row.Code != 0 {
			code = strconv.Itoa(int(r.row.Code))
		}
		codes[code]++
		if q.Before > 0 && r.seq >= q.Before {
			continue
		}
		if len(p.Rows) < q.Limit {
			p.Rows = append(p.Rows, r.row)
		} else {
			p.More = true
		}
	}
	p.Users, p.Verbs, p.Codes = counts(users), counts(verbs), counts(codes)
	p.Timeline, p.Latency = timeline(matched), latency(matched)
	return p
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

// events returns a copy of one request's events, nil if unknown.
func (s *Store) events(id string) []auditv1.Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.byID[id]
	if r == nil {
		return nil
	}
	return slices.Clone(r.events)
}
