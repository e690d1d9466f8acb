package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// pair is a request's RequestReceived and ResponseComplete events.
func pair(i int, user, verb, ns, name string, code int32) []auditv1.Event {
	id := types.UID(fmt.Sprintf("id-%06d", i))
	start := metav1.NewMicroTime(t0.Add(time.Duration(i) * time.Millisecond))
	base := auditv1.Event{AuditID: id, Verb: verb, Level: auditv1.LevelMetadata, RequestReceivedTimestamp: start, StageTimestamp: start,
		User:       authnv1.UserInfo{Username: user, Groups: []string{"team-" + user, "system:authenticated"}},
		ObjectRef:  &auditv1.ObjectReference{Resource: "pods", Namespace: ns, Name: name, APIVersion: "v1"},
		RequestURI: "/api/v1/namespaces/" + ns + "/pods/" + name}
	received := base
	received.Stage = auditv1.StageRequestReceived
	complete := base
	complete.Stage = auditv1.StageResponseComplete
	complete.StageTimestamp = metav1.NewMicroTime(start.Add(3500 * time.Microsecond))
	complete.ResponseStatus = &metav1.Status{Code: code}
	decision := "allow"
	if code == 403 {
		decision = "forbid"
		complete.Annotations = map[string]string{"authorization.k8s.io/reason": "no RBAC policy matched"}
	}
	complete.Annotations = mergeMap(complete.Annotations, map[string]string{"authorization.k8s.io/decision": decision})
	return []auditv1.Event{received, complete}
}

func mergeMap(a, b map[string]string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

// Events group into requests by audit ID, in order; an unfinished request
// is open; the stages carry their milliseconds.
func TestStoreGroupsRequests(t *testing.T) {
	s := NewStore(0)
	a := pair(1, "alice", "get", "default", "web", 200)
	s.Add(a[0])
	p := s.Query(Query{})
	if p.Total != 1 || !p.Rows[0].Open || len(p.Rows[0].Stages) != 1 {
		t.Fatalf("one stage in: %+v", p.Rows)
	}
	s.Add(a[1])
	s.Add(pair(2, "bob", "delete", "default", "web", 403)...)
	p = s.Query(Query{})
	if p.Total != 2 || p.Rows[0].User != "bob" || p.Rows[1].Open || p.Rows[1].Stages[1].MS != 3.5 {
		t.Fatalf("rows: %+v", p.Rows)
	}
	if r := p.Rows[0]; r.Decision != "forbid" || r.Reason != "no RBAC policy matched" || r.Code != 403 || r.Resource != "pods" || r.Name != "web" {
		t.Errorf("forbidden row: %+v", r)
	}
	if p.Stats.Events != 4 || p.Stats.Requests != 2 {
		t.Errorf("stats: %+v", p.Stats)
	}
}

// Each filter selects what it names; counts are over the matching requests.
func TestStoreFilters(t *testing.T) {
	s := NewStore(0)
	s.Add(pair(1, "alice", "get", "team-a", "web", 200)...)
	s.Add(pair(2, "alice", "create", "team-a", "db", 201)...)
	s.Add(pair(3, "bob", "delete", "team-b", "web", 403)...)
	s.Add(pair(4, "bob", "get", "team-b", "cache", 404)...)
	// A custom resource's status update.
	widget := pair(5, "carol", "update", "team-c", "w1", 200)
	for i := range widget {
		widget[i].ObjectRef = &auditv1.ObjectReference{Resource: "widgets", Subresource: "status", APIGroup: "example.com", APIVersion: "v1", Namespace: "team-c", Name: "w1"}
	}
	s.Add(widget...)
	for _, tc := range []struct {
		q    Query
		want []string
	}{
		{Query{}, []string{"id-000005", "id-000004", "id-000003", "id-000002", "id-000001"}},
		{Query{Resource: "widgets"}, []string{"id-000005"}},
		{Query{Resource: "widgets.example.com"}, []string{"id-000005"}},
		{Query{Resource: "widgets/status"}, []string{"id-000005"}},
		{Query{Resource: "widgets.example.org"}, nil},
		{Query{Text: "example.com"}, []string{"id-000005"}},
		{Query{User: "alice"}, []string{"id-000002", "id-000001"}},
		{Query{Group: "team-bob"}, []string{"id-000004", "id-000003"}},
		{Query{Verb: "get"}, []string{"id-000004", "id-000001"}},
		{Query{Resource: "pods"}, []string{"id-000004", "id-000003", "id-000002", "id-000001"}},
		{Query{Resource: "secrets"}, nil},
		{Query{Namespace: "team-b"}, []string{"id-000004", "id-000003"}},
		{Query{Code: "4xx"}, []string{"id-000004", "id-000003"}},
		{Query{Code: "201"}, []string{"id-000002"}},
		{Query{Level: "Metadata"}, []string{"id-000005", "id-000004", "id-000003", "id-000002", "id-000001"}},
		{Query{Decision: "forbid"}, []string{"id-000003"}},
		{Query{Text: "RBAC POLICY"}, []string{"id-000003"}},
		{Query{Text: "team-a/db"}, []string{"id-000002"}},
		{Query{User: "bob", Verb: "get"}, []string{"id-000004"}},
	} {
		p := s.Query(tc.q)
		var got []string
		for _, r := range p.Rows {
			got = append(got, r.ID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || p.Total != len(tc.want) {
			t.Errorf("%+v: %v (total %d), want %v", tc.q, got, p.Total, tc.want)
		}
	}
	p := s.Query(Query{Verb: "get"})
	if fmt.Sprint(p.Users) != "[{alice 1} {bob 1}]" || fmt.Sprint(p.Codes) != "[{200 1} {404 1}]" {
		t.Errorf("counts: %v %v %v", p.Users, p.Verbs, p.Codes)
	}
}

// 100,000 requests: a page is 100 rows, the total is exact, older pages
// follow with before, and beyond the capacity the oldest are forgotten
// and counted.
func TestStoreHoldsAHundredThousandRequests(t *testing.T) {
	s := NewStore(0)
	for i := range 100_000 {
		s.Add(pair(i, "alice", "get", "default", fmt.Sprintf("p%d", i), 200)...)
	}
	p := s.Query(Query{})
	if p.Total != 100_000 || len(p.Rows) != 100 || !p.More || p.Rows[0].ID != "id-099999" {
		t.Fatalf("first page: total %d, %d rows, more %v, first %s", p.Total, len(p.Rows), p.More, p.Rows[0].ID)
	}
	older := s.Query(Query{Before: p.Rows[99].ID, Limit: 100})
	if older.Rows[0].ID != "id-099899" || len(older.Rows) != 100 {
		t.Errorf("second page starts at %s", older.Rows[0].ID)
	}
	s.Add(pair(100_000, "bob", "get", "default", "last", 200)...)
	p = s.Query(Query{Limit: 5000})
	if p.Total != 100_000 || p.Stats.Forgotten != 1 || len(p.Rows) != MaxLimit {
		t.Errorf("beyond capacity: total %d, forgotten %d, rows %d", p.Total, p.Stats.Forgotten, len(p.Rows))
	}
	if known(s, "id-000000") {
		t.Errorf("the forgotten request is still there")
	}
	// Far beyond a small capacity: the newest kept, in order, through the
	// compactions.
	small := NewStore(10)
	for i := range 35 {
		small.Add(pair(i, "bob", "get", "default", "x", 200)...)
	}
	p = small.Query(Query{})
	var ids []string
	for _, r := range p.Rows {
		ids = append(ids, strings.TrimPrefix(r.ID, "id-0000"))
	}
	if got := strings.Join(ids, ","); got != "34,33,32,31,30,29,28,27,26,25" || p.Stats.Forgotten != 25 || known(small, "id-000024") {
		t.Errorf("capacity 10 after 35: %s, forgotten %d", got, p.Stats.Forgotten)
	}
}

// The detail diffs the response object against the request object; a
// managedFields list is summed up.
func TestDetailDiff(t *testing.T) {
	s := NewStore(0)
	evs := pair(1, "alice", "create", "default", "web", 201)
	evs[1].Level = auditv1.LevelRequestResponse
	evs[1].RequestObject = &runtime.Unknown{Raw: []byte(`{"kind":"Pod","metadata":{"name":"web","labels":{"a":"1"}},"spec":{"containers":[{"name":"c","image":"nginx"}]},"status":{}}`)}
	evs[1].ResponseObject = &runtime.Unknown{Raw: []byte(`{"kind":"Pod","metadata":{"name":"web","uid":"u-1","labels":{"a":"2"},
		"managedFields":[{"manager":"kubectl","operation":"Update"}]},"spec":{"containers":[{"name":"c","image":"nginx","imagePullPolicy":"Always"}]},"status":{"phase":"Pending"}}`)}
	s.Add(evs...)
	d, err := s.detail("id-000001", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Diff {
		got = append(got, fmt.Sprintf("%s %s %s>%s", c.Op, c.Path, c.From, c.To))
	}
	want := []string{`changed metadata.labels.a "1">"2"`, `added metadata.managedFields >1 field managers: kubectl (Update)`,
		`added metadata.uid >"u-1"`, `added spec.containers[0].imagePullPolicy >"Always"`, `added status.phase >"Pending"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(d.Events) != 2 || d.Annotations["authorization.k8s.io/decision"] != "allow" {
		t.Errorf("detail: %d events, annotations %v", len(d.Events), d.Annotations)
	}
}

// The stream says "version" when the store changes; the API pages and
// answers 404 for an unknown request.
func TestHandler(t *testing.T) {
	s := NewStore(0)
	srv := httptest.NewServer(Handler(s, Options{Source: "test"}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/stream", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	stream := bufio.NewReader(res.Body)
	message := func() string {
		var m strings.Builder
		for !strings.HasSuffix(m.String(), "\n\n") {
			line, err := stream.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			m.WriteString(line)
		}
		return m.String()
	}
	if got := message(); got != "event: version\ndata: 0\n\n" {
		t.Fatalf("first stream message %q", got)
	}
	s.Add(pair(1, "alice", "get", "default", "web", 200)...)
	if got := message(); got != "event: version\ndata: 1\n\n" {
		t.Errorf("after a change %q", got)
	}
	r, err := http.Get(srv.URL + "/api/requests?user=alice")
	if err != nil {
		t.Fatal(err)
	}
	var page Page
	if err := json.NewDecoder(r.Body).Decode(&page); err != nil || page.Total != 1 || page.Source != "test" {
		t.Errorf("page: %+v %v", page, err)
	}
	r.Body.Close()
	r, _ = http.Get(srv.URL + "/api/requests/nope")
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown request: %d", r.StatusCode)
	}
	r.Body.Close()
	r, _ = http.Get(srv.URL + "/static/app.js")
	if r.StatusCode != http.StatusOK {
		t.Errorf("embedded asset: %d", r.StatusCode)
	}
	r.Body.Close()
}

// A row is made of every event of its request: what the library learns as
// the request goes (the impersonated user after RequestReceived is written,
// a create's name, its code, late annotations) is shown and found whether
// the log has RequestReceived or omits it.
func TestRowTakesEveryEvent(t *testing.T) {
	start := metav1.NewMicroTime(t0)
	received := auditv1.Event{AuditID: "imp", Stage: auditv1.StageRequestReceived, Verb: "create", Level: auditv1.LevelMetadata,
		RequestURI: "/api/v1/namespaces/demo/configmaps", User: authnv1.UserInfo{Username: "admin", Groups: []string{"system:masters"}},
		ObjectRef:                &auditv1.ObjectReference{Resource: "configmaps", Namespace: "demo", APIVersion: "v1"},
		RequestReceivedTimestamp: start, StageTimestamp: start}
	complete := received
	complete.Stage = auditv1.StageResponseComplete
	complete.StageTimestamp = metav1.NewMicroTime(t0.Add(4 * time.Millisecond))
	complete.ImpersonatedUser = &authnv1.UserInfo{Username: "someone", Groups: []string{"team"}}
	complete.ObjectRef = &auditv1.ObjectReference{Resource: "configmaps", Namespace: "demo", Name: "made", APIVersion: "v1"}
	complete.ResponseStatus = &metav1.Status{Code: 201}
	complete.Annotations = map[string]string{"authorization.k8s.io/decision": "allow", "example.com/late": "noted"}
	for name, evs := range map[string][]auditv1.Event{"with RequestReceived": {received, complete}, "without": {complete}} {
		s := NewStore(0)
		s.Add(evs...)
		page := s.Query(Query{User: "someone"})
		if len(page.Rows) != 1 {
			t.Fatalf("%s: the impersonated user's filter finds %d rows", name, len(page.Rows))
		}
		row := page.Rows[0]
		want := Row{User: "admin", Impersonated: "someone", Verb: "create", Resource: "configmaps", Namespace: "demo", Name: "made", Code: 201,
			Decision: "allow", Level: "Metadata", Time: t0.Format(time.RFC3339Nano)}
		got := Row{User: row.User, Impersonated: row.Impersonated, Verb: row.Verb, Resource: row.Resource, Namespace: row.Namespace, Name: row.Name,
			Code: row.Code, Decision: row.Decision, Level: row.Level, Time: row.Time}
		if fmt.Sprint(got) != fmt.Sprint(want) || row.Open {
			t.Errorf("%s: row %+v (open %v), want %+v", name, got, row.Open, want)
		}
		if n := len(s.Query(Query{Text: "noted"}).Rows); n != 1 {
			t.Errorf("%s: a late annotation's text finds %d rows", name, n)
		}
	}
}

func known(s *Store, id string) bool {
	_, _, ok := s.lines(id)
	return ok
}
