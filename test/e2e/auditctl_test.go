package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
)

// explain must agree with the server: many generated requests, each with a
// known audit ID; the level of its events (or their absence) must be what
// auditctl explain predicts.
func TestExplainAgreesWithServer(t *testing.T) {
	t.Parallel()
	policyPath, _ := filepath.Abs(filepath.Join("..", "..", "pkg", "audit", "policytool", "testdata", "review.yaml"))
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "--audit-policy-file="+policyPath, "--audit-log-path="+log)
	pol, err := policytool.Load(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"ns-a", "ns-b", "ns-c"} {
		createNamespace(t, s.Client(), ns)
	}
	type sent struct {
		req  policytool.Request
		code int
	}
	requests := map[string]sent{}
	users := []struct {
		name   string
		groups []string
	}{{"alice", nil}, {"bob", []string{"auditors"}}, {"carol", []string{"qa"}}}
	n := 0
	send := func(client kubernetes.Interface, r policytool.Request, method, path string, body []byte) {
		n++
		id := fmt.Sprintf("agree-%04d", n)
		req := client.CoreV1().RESTClient().Verb(method).AbsPath(path).SetHeader("Audit-ID", id)
		if body != nil {
			req = req.SetHeader("Content-Type", "application/json").Body(body)
		}
		var code int
		req.Do(ctx).StatusCode(&code)
		requests[id] = sent{r, code}
	}
	for _, u := range users {
		client := userClient(t, s, u.name, u.groups...)
		for _, ns := range []string{"ns-a", "ns-b", "ns-c"} {
			for _, name := range []string{"x", "y"} {
				base := fmt.Sprintf("/api/v1/namespaces/%s/pods", ns)
				pod := newPod(ns, name+"-"+u.name)
				r := policytool.Request{User: u.name, Groups: u.groups, Resource: "pods", Namespace: ns}
				create := r
				create.Verb = "create"
				send(client, create, http.MethodPost, base, mustJSON(t, pod))
				get := r
				get.Verb, get.Name = "get", pod.Name
				send(client, get, http.MethodGet, base+"/"+pod.Name, nil)
				list := r
				list.Verb = "list"
				send(client, list, http.MethodGet, base, nil)
				status := get
				status.Verb, status.Subresource = "get", "status"
				send(client, status, http.MethodGet, base+"/"+pod.Name+"/status", nil)
				patch := get
				patch.Verb = "patch"
				n++
				id := fmt.Sprintf("agree-%04d", n)
				var code int
				client.CoreV1().RESTClient().Patch("application/merge-patch+json").AbsPath(base+"/"+pod.Name).SetHeader("Audit-ID", id).
					Body([]byte(`{"metadata":{"labels":{"p":"1"}}}`)).Do(ctx).StatusCode(&code)
				requests[id] = sent{patch, code}
				del := get
				del.Verb = "delete"
				send(client, del, http.MethodDelete, base+"/"+pod.Name, nil)
			}
		}
		nsList := policytool.Request{User: u.name, Groups: u.groups, Verb: "list", Resource: "namespaces"}
		send(client, nsList, http.MethodGet, "/api/v1/namespaces", nil)
		for _, path := range []string{"/healthz", "/healthz/ping", "/version", "/api", "/apis", "/livez", "/readyz"} {
			send(client, policytool.Request{User: u.name, Groups: u.groups, Verb: "get", Path: path}, http.MethodGet, path, nil)
		}
	}
	for id, r := range requests {
		if r.code == 0 || r.code >= 500 {
			t.Fatalf("request %s %+v answered %d", id, r.req, r.code)
		}
	}

	var byID map[string][]auditv1.Event
	deadline := time.Now().Add(30 * time.Second)
	for {
		events, err := expect.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		byID = expect.ByAuditID(events)
		missing := 0
		for id, r := range requests {
			if pol.Explain(r.req).Level != auditinternal.LevelNone && len(byID[id]) == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	levels := map[auditinternal.Level]int{}
	for id, r := range requests {
		want := pol.Explain(r.req)
		levels[want.Level]++
		got := byID[id]
		if want.Level == auditinternal.LevelNone {
			if len(got) != 0 {
				t.Errorf("%s %+v: explain says None, server wrote %d events at %s", id, r.req, len(got), got[0].Level)
			}
			continue
		}
		if len(got) == 0 {
			t.Errorf("%s %+v: explain says %s (rules[%d]), server wrote nothing", id, r.req, want.Level, want.Rule)
			continue
		}
		for _, e := range got {
			if string(e.Level) != string(want.Level) {
				t.Errorf("%s %+v: explain says %s (rules[%d]), server wrote %s", id, r.req, want.Level, want.Rule, e.Level)
			}
			for _, omitted := range want.OmitStages {
				if string(e.Stage) == string(omitted) {
					t.Errorf("%s: stage %s written, explain says it is omitted", id, e.Stage)
				}
			}
		}
	}
	if len(requests) < 100 || len(levels) < 3 {
		t.Errorf("%d requests over levels %v: the comparison is too thin", len(requests), levels)
	}

	// The command itself gives the same answer as the package.
	out, err := exec.Command(auditctlBin, "explain", "--policy", policyPath, "--user", "alice", "--verb", "create",
		"--resource", "pods", "--namespace", "ns-a").Output()
	if err != nil || !strings.Contains(string(out), "rule:           rules[1] (") || !strings.Contains(string(out), "level:          RequestResponse") {
		t.Errorf("auditctl explain: %v\n%s", err, out)
	}
	// And verify finds the log sound.
	if out, err := exec.Command(auditctlBin, "verify", log, "--policy", policyPath).CombinedOutput(); err != nil || !strings.HasSuffix(string(out), ": ok\n") {
		t.Errorf("auditctl verify: %v\n%s", err, out)
	}
}
