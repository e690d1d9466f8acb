package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

const firstMatchPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["ResponseStarted"]
omitManagedFields: true
rules:
- level: None
  users: ["system:serviceaccount:kube-system:namespace-controller", "system:apiserver"]
- level: RequestResponse
  users: ["alice"]
  verbs: ["create"]
  resources: [{group: "", resources: ["pods"]}]
  omitManagedFields: false
- level: RequestResponse
  users: ["alice"]
  verbs: ["update"]
- level: Request
  userGroups: ["auditors"]
- level: Metadata
  resources: [{group: "", resources: ["pods/status"]}]
- level: Request
  resources: [{group: "", resources: ["pods"], resourceNames: ["special"]}]
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: Metadata
  nonResourceURLs: ["/api*"]
- level: Request
  namespaces: ["ns-req"]
- level: Metadata
  omitStages: ["RequestReceived"]
`

func TestAuditPolicyFirstMatch(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, firstMatchPolicy), "--audit-log-path="+logPath)
	ctx := context.Background()
	admin := s.Client()
	for _, ns := range []string{"ns-a", "ns-req"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	alice := userClient(t, s, "alice", "auditors")
	bob := userClient(t, s, "bob")

	created, err := alice.CoreV1().Pods("ns-a").Create(ctx, newPod("ns-a", "p"), metav1.CreateOptions{}) // rule 2
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CoreV1().Pods("ns-a").Get(ctx, "p", metav1.GetOptions{}); err != nil { // rule 4 (group)
		t.Fatal(err)
	}
	created.Labels = map[string]string{"x": "y"}
	if _, err := alice.CoreV1().Pods("ns-a").Update(ctx, created, metav1.UpdateOptions{}); err != nil { // rule 3
		t.Fatal(err)
	}
	p, err := bob.CoreV1().Pods("ns-a").Get(ctx, "p", metav1.GetOptions{}) // last rule
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	if _, err := bob.CoreV1().Pods("ns-a").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil { // rule 5 (subresource)
		t.Fatal(err)
	}
	if _, err := bob.CoreV1().Pods("ns-a").Create(ctx, newPod("ns-a", "special"), metav1.CreateOptions{}); err != nil { // last rule: create has no name in the URL
		t.Fatal(err)
	}
	if _, err := bob.CoreV1().Pods("ns-a").Get(ctx, "special", metav1.GetOptions{}); err != nil { // rule 6 (resourceNames)
		t.Fatal(err)
	}
	if _, err := bob.CoreV1().Pods("ns-req").List(ctx, metav1.ListOptions{}); err != nil { // rule 9 (namespace)
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/healthz/ping", "/version", "/api", "/apis"} { // rules 7 and 8
		if err := bob.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Error(); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	w, err := bob.CoreV1().Pods("ns-a").Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
	if err != nil {
		t.Fatal(err)
	}
	for range w.ResultChan() {
	}

	pods := "/api/v1/namespaces/ns-a/pods"
	ev := func(level auditv1.Level, stage auditv1.Stage, verb, uri, user string, code int32, resource, sub, ns string, req, resp bool) expect.Event {
		e := expect.Event{Level: level, Stage: stage, Verb: verb, RequestURI: uri, User: user, Code: code,
			Resource: resource, Subresource: sub, Namespace: ns, RequestObject: req, ResponseObject: resp}
		if stage != auditv1.StageRequestReceived {
			e.AuthorizeDecision = "allow"
		}
		return e
	}
	RR, RC := auditv1.StageRequestReceived, auditv1.StageResponseComplete
	want := []expect.Event{
		ev(auditv1.LevelRequestResponse, RR, "create", pods, "alice", 0, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelRequestResponse, RC, "create", pods, "alice", 201, "pods", "", "ns-a", true, true),
		ev(auditv1.LevelRequest, RR, "get", pods+"/p", "alice", 0, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelRequest, RC, "get", pods+"/p", "alice", 200, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelRequestResponse, RC, "update", pods+"/p", "alice", 200, "pods", "", "ns-a", true, true),
		ev(auditv1.LevelMetadata, RC, "get", pods+"/p", "bob", 200, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelMetadata, RR, "update", pods+"/p/status", "bob", 0, "pods", "status", "ns-a", false, false),
		ev(auditv1.LevelMetadata, RC, "update", pods+"/p/status", "bob", 200, "pods", "status", "ns-a", false, false),
		ev(auditv1.LevelMetadata, RC, "create", pods, "bob", 201, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelRequest, RR, "get", pods+"/special", "bob", 0, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelRequest, RC, "get", pods+"/special", "bob", 200, "pods", "", "ns-a", false, false),
		ev(auditv1.LevelRequest, RC, "list", "/api/v1/namespaces/ns-req/pods", "bob", 200, "pods", "", "ns-req", false, false),
		ev(auditv1.LevelMetadata, RR, "get", "/api", "bob", 0, "", "", "", false, false),
		ev(auditv1.LevelMetadata, RC, "get", "/api", "bob", 200, "", "", "", false, false),
		ev(auditv1.LevelMetadata, RC, "get", "/apis", "bob", 200, "", "", "", false, false),
	}
	events := waitForEvents(t, logReader(logPath), want)

	type key struct {
		user, verb, uri string
		stage           auditv1.Stage
	}
	seen := map[key]*auditv1.Event{}
	for i, e := range events {
		seen[key{e.User.Username, e.Verb, e.RequestURI, e.Stage}] = &events[i]
		if strings.HasPrefix(e.RequestURI, "/healthz") || e.RequestURI == "/version" {
			t.Errorf("level None rule 7 did not hold: %s %s", e.Stage, e.RequestURI)
		}
		if e.Stage == auditv1.StageResponseStarted {
			t.Errorf("policy-level omitStages ResponseStarted did not hold: %s %s", e.Verb, e.RequestURI)
		}
		if e.User.Username == "system:serviceaccount:kube-system:namespace-controller" || e.User.Username == "system:apiserver" {
			t.Errorf("level None rule 1 did not hold: %s %s", e.User.Username, e.RequestURI)
		}
	}
	// Rule-level omitStages: bob's get under the last rule has no RequestReceived.
	if seen[key{"bob", "get", pods + "/p", auditv1.StageRequestReceived}] != nil {
		t.Errorf("rule-level omitStages RequestReceived did not hold")
	}
	// The watch, under both omissions, has only ResponseComplete.
	watchStages := 0
	for _, e := range events {
		if e.Verb == "watch" && e.User.Username == "bob" {
			watchStages++
			if e.Stage != auditv1.StageResponseComplete || e.Level != auditv1.LevelMetadata {
				t.Errorf("watch event %s %s", e.Stage, e.Level)
			}
		}
	}
	if watchStages != 1 {
		t.Errorf("watch produced %d events, want 1 (ResponseComplete)", watchStages)
	}
	// omitManagedFields: policy-level true, overridden to false on alice's create rule.
	if hasManagedFields(t, seen[key{"alice", "create", pods, auditv1.StageResponseComplete}]) != true {
		t.Errorf("rule omitManagedFields=false: create response lacks managedFields")
	}
	if hasManagedFields(t, seen[key{"alice", "update", pods + "/p", auditv1.StageResponseComplete}]) != false {
		t.Errorf("policy omitManagedFields=true: update response has managedFields")
	}
}

func hasManagedFields(t *testing.T, e *auditv1.Event) bool {
	t.Helper()
	if e == nil || e.ResponseObject == nil {
		t.Fatalf("no event with a response object")
	}
	var obj struct {
		Metadata struct {
			ManagedFields []json.RawMessage `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(e.ResponseObject.Raw, &obj); err != nil {
		t.Fatal(err)
	}
	return len(obj.Metadata.ManagedFields) > 0
}

func TestAuditStagesAndIDs(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  namespaces: [default]\n"),
		"--audit-log-path="+logPath)
	ctx := context.Background()
	rc := s.Client().CoreV1().RESTClient()

	// The server's audit ID reaches the client in the Audit-ID header.
	res := rc.Post().Namespace("default").Resource("pods").Body(mustJSON(t, newPod("default", "ids"))).Do(ctx)
	var code int
	res.StatusCode(&code)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, res.Error())
	}
	header := responseHeader(t, s, http.MethodGet, "/api/v1/namespaces/default/pods/ids", "")
	serverID := header.Get("Audit-ID")
	if serverID == "" {
		t.Fatal("no Audit-ID response header")
	}
	// A client-supplied Audit-ID is honoured and echoed.
	clientHeader := responseHeader(t, s, http.MethodGet, "/api/v1/namespaces/default/pods/ids", "my-trace-0001")
	if got := clientHeader.Get("Audit-ID"); got != "my-trace-0001" {
		t.Errorf("client-supplied Audit-ID echoed as %q", got)
	}

	want := []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageRequestReceived, Verb: "get", RequestURI: "/api/v1/namespaces/default/pods/ids", User: "kubernetes-admin", Resource: "pods", Namespace: "default"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "get", RequestURI: "/api/v1/namespaces/default/pods/ids", Code: 200, User: "kubernetes-admin", Resource: "pods", Namespace: "default", AuthorizeDecision: "allow"},
	}
	events := waitForEvents(t, logReader(logPath), append(want, want...))
	byID := expect.ByAuditID(events)
	for _, id := range []string{serverID, "my-trace-0001"} {
		got := byID[id]
		if len(got) != 2 || got[0].Stage != auditv1.StageRequestReceived || got[1].Stage != auditv1.StageResponseComplete {
			t.Errorf("audit ID %s: %d events %v", id, len(got), stages(got))
		}
	}
	for id, evs := range byID {
		if len(evs) > 3 {
			t.Errorf("audit ID %s shared by %d events", id, len(evs))
		}
	}

	// A watch is long-running: RequestReceived, ResponseStarted, ResponseComplete, one ID.
	w, err := s.Client().CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
	if err != nil {
		t.Fatal(err)
	}
	for range w.ResultChan() {
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		events, err = expect.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		var watchIDs []string
		for id, evs := range expect.ByAuditID(events) {
			if evs[0].Verb == "watch" {
				watchIDs = append(watchIDs, id)
				if got := stages(evs); len(evs) == 3 {
					if got != "RequestReceived,ResponseStarted,ResponseComplete" {
						t.Fatalf("watch stages %s", got)
					}
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete watch event set (watch IDs %v)", watchIDs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stages(events []auditv1.Event) string {
	var s []string
	for _, e := range events {
		s = append(s, string(e.Stage))
	}
	return strings.Join(s, ",")
}

func mustJSON(t *testing.T, obj interface{}) []byte {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// responseHeader sends one request with the admin credential and returns
// the response headers.
func responseHeader(t *testing.T, s *apiServer, method, path, auditID string) http.Header {
	t.Helper()
	cfg := s.RESTConfig()
	transport, err := restTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, cfg.Host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auditID != "" {
		req.Header.Set("Audit-ID", auditID)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header
}

func TestAuditPolicyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, policy, want string
	}{
		{"bad YAML", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [\n", "bad-yaml.yaml"},
		{"unknown level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n", `rules[0].level: Unsupported value: "Loud"`},
		{"wrong apiVersion", "apiVersion: audit.k8s.io/v9\nkind: Policy\nrules:\n- level: Metadata\n", "audit.k8s.io/v9"},
		{"wrong kind", "apiVersion: audit.k8s.io/v1\nkind: Polizy\nrules:\n- level: Metadata\n", "Polizy"},
		{"no rules", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n", "loaded illegal policy with 0 rules"},
		{"bad stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Sometime]\nrules:\n- level: Metadata\n", `omitStages[0]: Invalid value: "Sometime": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := write(strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")+".yaml", tc.policy)
			code, stderr := runBinary(t, 20*time.Second, "--audit-policy-file="+path, "--audit-log-path=-",
				"--data-dir="+filepath.Join(t.TempDir(), "d"), "--secure-port="+strconv.Itoa(freePort(t)))
			if code == 0 {
				t.Fatal("started with a bad policy")
			}
			unescaped := strings.ReplaceAll(stderr, `\"`, `"`)
			if !strings.Contains(unescaped, tc.want) || !strings.Contains(unescaped, path) {
				t.Errorf("stderr lacks %q or the file name %s:\n%s", tc.want, path, stderr)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		code, stderr := runBinary(t, 20*time.Second, "--audit-policy-file=/nonexistent/policy.yaml",
			"--data-dir="+filepath.Join(t.TempDir(), "d"), "--secure-port="+strconv.Itoa(freePort(t)))
		if code == 0 || !strings.Contains(stderr, "/nonexistent/policy.yaml") || !strings.Contains(stderr, "no such file or directory") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}
