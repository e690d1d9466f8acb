package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// consolePolicy records pods with both bodies and the rest as metadata;
// probes are not recorded, nor the server's own reading of /openapi/v3
// every 5 s (the MutatingAdmissionPolicy plugin's, as on kube-apiserver),
// nor its identity Lease's renewal every 10 s (kube's too).
const consolePolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/openapi*"]
- level: RequestResponse
  resources: [{group: "", resources: ["pods"]}]
- level: None
  users: ["system:apiserver"]
  resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
- level: Metadata
`

// startConsole runs `auditctl console` on log (with policy, if given) and
// returns its URL.
func startConsole(t *testing.T, log, policy string) string {
	t.Helper()
	return startConsoleArgs(t, policy, "--log", log)
}

// startConsoleArgs is startConsole with more arguments (several --log).
func startConsoleArgs(t *testing.T, policy string, more ...string) string {
	t.Helper()
	args := append([]string{"console", "--address", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, more...)
	if policy != "" {
		args = append(args, "--policy", policy)
	}
	cmd := exec.Command(auditctlBin, args...)
	out, err := cmd.StdoutPipe()
	mustDo(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	mustDo(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("auditctl console exited: %s", stderr.String())
		}
		_, u, found := strings.Cut(line, " at ")
		if !found {
			t.Fatalf("auditctl console printed %q", line)
		}
		return consoleRoot(t, u)
	case <-time.After(waitShort):
		t.Fatalf("auditctl console printed no URL: %s", stderr.String())
	}
	return ""
}

// consoleTokens are the tokens of the consoles started, by root URL.
var consoleTokens sync.Map

// consoleRoot is the URL a console printed (…/?token=…) without its token,
// which it keeps for consoleBrowser and consoleGet.
func consoleRoot(t *testing.T, printed string) string {
	t.Helper()
	u, err := url.Parse(printed)
	mustDo(t, err)
	token := u.Query().Get("token")
	if token == "" {
		t.Fatalf("the console's URL %s has no token", printed)
	}
	root := u.Scheme + "://" + u.Host + "/"
	consoleTokens.Store(root, token)
	return root
}

func consoleToken(t *testing.T, root string) string {
	t.Helper()
	token, ok := consoleTokens.Load(root)
	if !ok {
		t.Fatalf("no token for the console at %s", root)
	}
	return token.(string)
}

// consoleBrowser is a browser that opened the console at root with its
// token, as a user opens the printed URL: it holds the cookie from there.
func consoleBrowser(t *testing.T, root string) context.Context {
	t.Helper()
	ctx := browser(t)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(root+"?token="+consoleToken(t, root))))
	return ctx
}

// consoleGet is a GET of the console's API with its token.
func consoleGet(t *testing.T, u string) *http.Response {
	t.Helper()
	root := u[:strings.Index(u[len("http://"):], "/")+len("http://")+1]
	req, err := http.NewRequest(http.MethodGet, u, nil)
	mustDo(t, err)
	req.Header.Set("Authorization", "Bearer "+consoleToken(t, root))
	res, err := http.DefaultClient.Do(req)
	mustDo(t, err)
	return res
}

// browser is a headless Chromium driven over the DevTools protocol.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM_BIN")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("chromium not found (hack/install-deps.sh installs it; or set CHROMIUM_BIN): %v", err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1600, 1000), chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate("about:blank"))) // starts the browser
	return ctx
}

// consoleRow is one row of the page, as shown.
type consoleRow struct {
	ID, Time, Log, User, Verb, Target, Code, Level, Decision, Reason, Stages string
	Open                                                                     bool
}

const rowsJS = `[...document.querySelectorAll('#rows tr.req')].map(tr => ({
	ID: tr.dataset.id, Time: tr.querySelector('.time').firstChild.textContent, Log: tr.querySelector('.time .log')?.textContent || '',
	User: tr.querySelector('.user').textContent,
	Verb: tr.querySelector('.verb').textContent, Target: tr.querySelector('.target').textContent,
	Code: tr.querySelector('.code').textContent, Level: tr.querySelector('.level').textContent,
	Decision: tr.querySelector('.decision').textContent, Reason: tr.querySelector('.decision').title,
	Stages: tr.querySelector('.stages').textContent, Open: tr.classList.contains('open')}))`

func pageRows(t *testing.T, ctx context.Context) []consoleRow {
	t.Helper()
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]consoleRow](rowsJS))
	mustDo(t, err)
	return rows
}

// waitRows polls the page (never reloading it) until cond holds for its rows.
func waitRows(t *testing.T, ctx context.Context, what string, cond func([]consoleRow) bool) []consoleRow {
	t.Helper()
	var rows []consoleRow
	eventually(t, waitShort, what, func() (bool, error) {
		var err error
		if rows, err = chromedp.Run(ctx, chromedp.Evaluate[[]consoleRow](rowsJS)); err != nil {
			return false, err
		}
		return cond(rows), nil
	})
	return rows
}

// waitText polls until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, selector, want string) string {
	t.Helper()
	var text string
	eventually(t, waitShort, fmt.Sprintf("%s to show %q", selector, want), func() (bool, error) {
		var err error
		text, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+jsString(selector)+`) || {}).innerText || ""`))
		return strings.Contains(text, want), err
	})
	return text
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func findRow(rows []consoleRow, verb, target string) *consoleRow {
	for i := range rows {
		if rows[i].Verb == verb && rows[i].Target == target {
			return &rows[i]
		}
	}
	return nil
}

// apiRows is what the console's API answers for a query.
func apiRows(t *testing.T, base, query string) []string {
	t.Helper()
	res := consoleGet(t, base+"api/requests?limit=1000&"+query)
	defer res.Body.Close()
	var page struct {
		Rows []struct{ ID string }
	}
	mustDo(t, json.NewDecoder(res.Body).Decode(&page))
	var ids []string
	for _, r := range page.Rows {
		ids = append(ids, r.ID)
	}
	return ids
}

// The console as a person uses it: rows appear while kubectl works, each
// filter narrows them and lives in the URL, a request's detail shows its
// stages, what the server added and the deciding rule, a forbidden request
// its decision and reason.
func TestConsole(t *testing.T) {
	t.Parallel()
	demo, _ := filepath.Abs(filepath.Join("..", "..", "hack", "demo"))
	log := filepath.Join(t.TempDir(), "audit.log")
	policy := writePolicy(t, consolePolicy)
	s := startServer(t, "--audit-policy-file="+policy, "--audit-log-path="+log,
		"--token-auth-file="+filepath.Join(demo, "tokens.csv"), "--authorization-mode=ABAC",
		"--authorization-policy-file="+filepath.Join(demo, "abac.jsonl"))
	base := startConsole(t, log, policy)
	ctx := consoleBrowser(t, base)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base)))
	waitText(t, ctx, "#live", "live")
	if s := os.Getenv("CONSOLE_SCREENSHOTS"); s != "" {
		defer screenshots(t, ctx, base, s)
	}

	// Rows appear live, newest first, while kubectl works.
	s.Kubectl("create", "namespace", "demo")
	bob := userKubeconfig(t, s, "bob", "bob-token")
	alice := userKubeconfig(t, s, "alice", "alice-token")
	runKubectlOK(t, alice, "run", "web", "--image=nginx", "-n", "demo")
	rows := waitRows(t, ctx, "the pod create's row", func(rows []consoleRow) bool {
		r := findRow(rows, "create", "pods demo/web")
		return r != nil && !r.Open
	})
	create := findRow(rows, "create", "pods demo/web")
	if create.User != "alice" || create.Code != "201" || create.Level != "RequestResponse" || create.Decision != "allow" ||
		!strings.Contains(create.Stages, "RequestReceived") || !strings.Contains(create.Stages, "ResponseComplete") || !strings.Contains(create.Stages, "ms") {
		t.Errorf("pod create row: %+v", *create)
	}
	runKubectlOK(t, bob, "get", "pods", "-n", "demo")
	r := runKubectl(t, bob, nil, "", "delete", "pod", "web", "-n", "demo")
	if r.Err == nil {
		t.Fatal("bob deleted the pod")
	}
	rows = waitRows(t, ctx, "bob's delete", func(rows []consoleRow) bool { return findRow(rows, "delete", "pods demo/web") != nil })
	if rows[0].Verb != "delete" || rows[0].User != "bob" {
		t.Errorf("newest row is %+v, want bob's delete", rows[0])
	}
	del := findRow(rows, "delete", "pods demo/web")
	if del.Code != "403" || del.Decision != "forbid" || del.Reason == "" {
		t.Errorf("forbidden delete row: %+v", *del)
	}

	// Each filter narrows the rows and is in the URL; opening that URL
	// gives the same rows as the API's answer for the same filter.
	all := pageRows(t, ctx)
	for _, f := range []struct {
		query string
		keep  func(consoleRow) bool
	}{
		{"user=bob", func(r consoleRow) bool { return r.User == "bob" }},
		{"group=developers", func(r consoleRow) bool { return r.User == "alice" }},
		{"verb=create", func(r consoleRow) bool { return r.Verb == "create" }},
		{"resource=pods", func(r consoleRow) bool { return strings.HasPrefix(r.Target, "pods") }},
		{"namespace=demo", func(r consoleRow) bool { return strings.Contains(r.Target, " demo") }},
		{"code=4xx", func(r consoleRow) bool { return strings.HasPrefix(r.Code, "4") }},
		{"level=RequestResponse", func(r consoleRow) bool { return r.Level == "RequestResponse" }},
		{"decision=forbid", func(r consoleRow) bool { return r.Decision == "forbid" }},
		{"q=nginx", func(r consoleRow) bool { return false }}, // no row's fields say nginx; only bodies would
		{"q=demo%2Fweb", func(r consoleRow) bool { return strings.Contains(r.Target, "demo/web") }},
		{"user=bob&verb=delete", func(r consoleRow) bool { return r.User == "bob" && r.Verb == "delete" }},
	} {
		mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?"+f.query)))
		want := apiRows(t, base, f.query)
		got := waitRows(t, ctx, "the rows of ?"+f.query, func(rows []consoleRow) bool { return len(rows) == len(want) })
		for i, row := range got {
			if row.ID != want[i] {
				t.Errorf("?%s: row %d is %s, the API says %s", f.query, i, row.ID, want[i])
			}
			if !f.keep(row) {
				t.Errorf("?%s shows %+v", f.query, row)
			}
		}
		if f.query != "q=nginx" && (len(got) == 0 || len(got) >= len(all)) {
			t.Errorf("?%s: %d rows of %d", f.query, len(got), len(all))
		}
	}
	// Typing a filter narrows the rows and writes it into the URL.
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base)))
	waitRows(t, ctx, "every row again", func(rows []consoleRow) bool { return len(rows) == len(all) })
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#filters input[name="verb"]`), "delete")))
	waitRows(t, ctx, "only deletes", func(rows []consoleRow) bool { return len(rows) == 1 && rows[0].Verb == "delete" })
	loc, err := chromedp.Run(ctx, chromedp.Location())
	mustDo(t, err)
	if u, _ := url.Parse(loc); u.Query().Get("verb") != "delete" {
		t.Errorf("the URL after typing a filter: %s", loc)
	}

	// The pod create's detail, by clicking its row.
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?resource=pods&verb=create")))
	waitRows(t, ctx, "the create row", func(rows []consoleRow) bool { return len(rows) == 1 })
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows tr.req`))))
	waitText(t, ctx, "#detail-events", "ResponseComplete")
	events := waitText(t, ctx, "#detail-events", "RequestReceived")
	if strings.Count(events, "\n")+1 != 2 {
		t.Errorf("the create's stages: %q", events)
	}
	loc, err = chromedp.Run(ctx, chromedp.Location())
	mustDo(t, err)
	if u, _ := url.Parse(loc); u.Query().Get("audit-id") != create.ID {
		t.Errorf("the URL of the detail: %s", loc)
	}
	diff := waitText(t, ctx, "#detail-diff", "metadata.uid")
	for _, want := range []string{"added\tmetadata.uid", "added\tstatus.qosClass\t\"BestEffort\"", "added\tmetadata.creationTimestamp"} {
		if !strings.Contains(diff, want) {
			t.Errorf("the diff lacks %q:\n%s", want, diff)
		}
	}
	explain := waitText(t, ctx, "#detail-explain", "rules[1]")
	if !strings.Contains(explain, "Level RequestResponse decided by rules[1] ("+policy+" line 6)") || !strings.Contains(explain, `resources: [{group: "", resources: ["pods"]}]`) {
		t.Errorf("the deciding rule:\n%s", explain)
	}
	waitText(t, ctx, "#detail-request", `"image": "nginx"`)

	// The forbidden delete's detail, opened by its URL.
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?audit-id="+del.ID)))
	ann := waitText(t, ctx, "#detail-annotations", "authorization.k8s.io/decision")
	if !strings.Contains(ann, "authorization.k8s.io/decision\tforbid") || !strings.Contains(ann, "authorization.k8s.io/reason\t"+del.Reason) {
		t.Errorf("the forbidden request's annotations:\n%s", ann)
	}
}

// userKubeconfig writes a kubeconfig for a token user of the server.
func userKubeconfig(t *testing.T, s *apiServer, user, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	cmd := exec.Command(filepath.Join("..", "..", "hack", "user-kubeconfig.sh"), s.Kubeconfig(), user, "--token", token)
	cmd.Env = append(os.Environ(), "KUBECTL="+kubectlBin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("user-kubeconfig.sh: %v", err)
	}
	mustDo(t, os.WriteFile(path, out, 0o600))
	return path
}

func runKubectlOK(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	r := runKubectl(t, kubeconfig, nil, "", args...)
	if r.Err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, r.Err, r.Stderr)
	}
	return r.Stdout
}

// screenshots saves the main view and a detail for docs/console.md
// (make console-screenshots), once each has what it should show.
func screenshots(t *testing.T, ctx context.Context, base, dir string) {
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base)))
	waitText(t, ctx, "#live", "live")
	waitRows(t, ctx, "rows", func(rows []consoleRow) bool { return len(rows) > 0 })
	main, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	mustDo(t, err)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?resource=pods&verb=create")))
	waitRows(t, ctx, "the create row", func(rows []consoleRow) bool { return len(rows) == 1 })
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows tr.req`))))
	waitText(t, ctx, "#detail-explain", "rules[")
	waitText(t, ctx, "#detail-diff", "metadata.uid")
	detail, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(dir, "console-requests.png"), main, 0o644))
	mustDo(t, os.WriteFile(filepath.Join(dir, "console-detail.png"), detail, 0o644))
}

// consoleStats are the counts the console's API reports.
func consoleStats(t *testing.T, base, query string) (total int, events int64) {
	t.Helper()
	res := consoleGet(t, base+"api/requests?limit=1&"+query)
	defer res.Body.Close()
	var page struct {
		Total int
		Stats struct{ Events int64 }
	}
	mustDo(t, json.NewDecoder(res.Body).Decode(&page))
	return page.Total, page.Stats.Events
}

// The console follows a log that rotates under load (built-in rotation at
// 1 MB): every request is a row once, every event counted once, and the
// page, never reloaded, shows them all.
func TestConsoleFollowsRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	s := startServer(t, "--audit-policy-file="+writePolicy(t, consolePolicy), "--audit-log-path="+log, "--audit-log-maxsize=1")
	createNamespace(t, s.Client(), "rotating")
	// The load's pods, not the controllers' objects of the new namespace.
	base := startConsole(t, log, "")
	ctx := consoleBrowser(t, base)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?namespace=rotating&verb=create&resource=pods")))
	waitText(t, ctx, "#live", "live")

	load := startPodLoad(t, s.Client(), "rotating")
	eventually(t, waitLong, "two rotations under load", func() (bool, error) {
		backups, err := filepath.Glob(filepath.Join(dir, "audit-*.log"))
		return len(backups) >= 2, err
	})
	load.Stop()
	created := load.created.Load()

	files, err := filepath.Glob(filepath.Join(dir, "audit*.log"))
	mustDo(t, err)
	var lines int64
	eventually(t, waitShort, "the console to read every line", func() (bool, error) {
		lines = 0
		for _, f := range files {
			evs, err := expect.ReadFile(f)
			if err != nil {
				return false, err
			}
			lines += int64(len(evs))
		}
		total, events := consoleStats(t, base, "namespace=rotating&verb=create&resource=pods")
		return total == int(created) && events == lines, nil
	})
	total, events := consoleStats(t, base, "namespace=rotating&verb=create&resource=pods")
	if total != int(created) || events != lines {
		t.Errorf("console: %d creates of %d, %d events of %d lines", total, created, events, lines)
	}
	waitText(t, ctx, "#total", fmt.Sprintf("%d requests match", created))
	if rows := pageRows(t, ctx); len(rows) != min(int(created), 100) {
		t.Errorf("the page shows %d rows", len(rows))
	}
}

// audit-sink --console-address shows what the webhook delivers, and counts
// a body that is not an EventList.
func TestConsoleOfAuditSink(t *testing.T) {
	t.Parallel()
	port, consolePort := freePort(t), freePort(t)
	policy := writePolicy(t, consolePolicy)
	cmd := exec.Command(sinkBin, fmt.Sprintf("--listen=127.0.0.1:%d", port), fmt.Sprintf("--console-address=127.0.0.1:%d", consolePort),
		"--policy="+policy)
	logs := &proc.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	mustDo(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var printed string
	eventually(t, waitShort, "audit-sink's console", func() (bool, error) {
		_, rest, found := strings.Cut(logs.String(), "audit-sink: console at ")
		printed, _, _ = strings.Cut(rest, "\n")
		return found && strings.Contains(rest, "\n"), nil
	})
	base := consoleRoot(t, printed)
	if base != fmt.Sprintf("http://127.0.0.1:%d/", consolePort) {
		t.Fatalf("audit-sink's console at %s", printed)
	}
	ctx := consoleBrowser(t, base)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base)))
	waitText(t, ctx, "#empty", "No audit events yet")

	webhookConfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	mustDo(t, harness.WriteWebhookKubeconfig(webhookConfig, fmt.Sprintf("http://127.0.0.1:%d/audit", port), harness.WebhookClient{}))
	s := startServer(t, "--audit-policy-file="+policy, "--audit-webhook-config-file="+webhookConfig, "--audit-webhook-batch-max-wait=200ms")
	s.Kubectl("run", "delivered", "--image=nginx")
	waitRows(t, ctx, "the delivered create", func(rows []consoleRow) bool {
		r := findRow(rows, "create", "pods default/delivered")
		return r != nil && r.Code == "201" && !r.Open
	})
	waitText(t, ctx, "#source", fmt.Sprintf("webhook deliveries to audit-sink on 127.0.0.1:%d", port))
	res, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/audit", port), "application/json", strings.NewReader("not an event list"))
	mustDo(t, err)
	res.Body.Close()
	waitText(t, ctx, "#stats", "1 lines not audit events")
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?verb=create&resource=pods")))
	waitRows(t, ctx, "the create alone", func(rows []consoleRow) bool { return len(rows) == 1 })
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows tr.req`))))
	waitText(t, ctx, "#detail-explain", "Level RequestResponse decided by rules[1]")
}

// The request detail shows an annotation whose value is JSON (a webhook's
// patch, a policy's validation failures) indented, so a patch can be read;
// a custom resource's row names it as kubectl does (resource.group). The
// events are kube-apiserver's own (the golden trail's create that a
// mutating webhook patched and a ValidatingAdmissionPolicy audited, and its
// requests on widgets), given IDs and times the recording leaves out.
func TestConsoleShowsAdmissionPatch(t *testing.T) {
	t.Parallel()
	trail, err := os.ReadFile("testdata/golden-kube-apiserver.jsonl")
	mustDo(t, err)
	var log strings.Builder
	var patched []string
	widgets := 0
	for i, line := range strings.Split(strings.TrimSpace(string(trail)), "\n") {
		var e map[string]interface{}
		mustDo(t, json.Unmarshal([]byte(line), &e))
		annotations, _ := e["annotations"].(map[string]interface{})
		ref, _ := e["objectRef"].(map[string]interface{})
		_, audited := annotations["validation.policy.admission.k8s.io/validation_failure"]
		widget := ref != nil && ref["apiGroup"] == "golden.example.com"
		if e["stage"] != "ResponseComplete" || (!audited && !widget) {
			continue
		}
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		when := t0Console.Add(time.Duration(i) * time.Millisecond)
		e["auditID"], e["requestReceivedTimestamp"], e["stageTimestamp"] = id, when.Format(metav1.RFC3339Micro), when.Add(4*time.Millisecond).Format(metav1.RFC3339Micro)
		b, err := json.Marshal(e)
		mustDo(t, err)
		log.Write(append(b, '\n'))
		if audited {
			patched = append(patched, id)
		}
		if widget {
			widgets++
		}
	}
	if len(patched) != 1 || widgets == 0 {
		t.Fatalf("the golden trail has %d patched creates a policy audited (want 1) and %d requests on widgets", len(patched), widgets)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	mustDo(t, os.WriteFile(path, []byte(log.String()), 0o600))
	base := startConsole(t, path, "")
	ctx := consoleBrowser(t, base)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?audit-id="+patched[0])))
	ann := waitText(t, ctx, "#detail-annotations", "patch.webhook.admission.k8s.io/round_0_index_0")
	for _, want := range []string{
		"\"configuration\": \"golden-stamp\",\n  \"webhook\": \"stamp.golden.example.com\",\n  \"patch\": [\n    {\n      \"op\": \"add\",\n      \"path\": \"/metadata/labels/stamped\",",
		"  \"patchType\": \"JSONPatch\"\n}",
		"[\n  {\n    \"message\": \"at most two keys\",\n    \"policy\": \"golden-max-keys\",",
		"golden-max-keys/keys\t3",
	} {
		if !strings.Contains(ann, want) {
			t.Errorf("the annotations lack %q:\n%s", want, ann)
		}
	}
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?resource=widgets.golden.example.com")))
	rows := waitRows(t, ctx, "the widgets' rows", func(rows []consoleRow) bool { return len(rows) == widgets })
	if findRow(rows, "create", "widgets.golden.example.com golden/small") == nil || findRow(rows, "update", "widgets.golden.example.com/status golden/small") == nil {
		t.Errorf("the widgets' rows: %+v", rows)
	}
}

// t0Console is when the events given to a console start.
var t0Console = time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)

// The console reads the logs of two servers at once: what they hold merged
// in time order (their rotated files too), then each followed; every row
// names its log.
func TestConsoleOfSeveralLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	// Requests alternate between the two servers' logs, a second apart; a's
	// first two are in a rotated file.
	event := func(i int) string {
		at := metav1.NewMicroTime(t0.Add(time.Duration(i) * time.Second))
		e := auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, Level: auditv1.LevelMetadata,
			AuditID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i)), Stage: auditv1.StageResponseComplete, Verb: "get",
			RequestURI: fmt.Sprintf("/api/v1/namespaces/default/configmaps/cm-%d", i), User: authnv1.UserInfo{Username: "alice"},
			ObjectRef:      &auditv1.ObjectReference{Resource: "configmaps", Namespace: "default", Name: fmt.Sprintf("cm-%d", i), APIVersion: "v1"},
			ResponseStatus: &metav1.Status{Code: 200}, RequestReceivedTimestamp: at, StageTimestamp: at}
		line, err := json.Marshal(e)
		mustDo(t, err)
		return string(line) + "\n"
	}
	logA, logB := filepath.Join(dir, "a", "audit.log"), filepath.Join(dir, "b", "audit.log")
	mustDo(t, os.MkdirAll(filepath.Dir(logA), 0o700))
	mustDo(t, os.MkdirAll(filepath.Dir(logB), 0o700))
	mustDo(t, os.WriteFile(filepath.Join(dir, "a", "audit.log.1"), []byte(event(0)+event(2)), 0o600))
	mustDo(t, os.WriteFile(logA, []byte(event(4)+event(6)), 0o600))
	mustDo(t, os.WriteFile(logB, []byte(event(1)+event(3)+event(5)+event(7)), 0o600))
	base := startConsoleArgs(t, "", "--log", logA, "--log", logB)
	ctx := consoleBrowser(t, base)
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base)))
	check := func(n int) {
		t.Helper()
		rows := waitRows(t, ctx, fmt.Sprintf("%d rows", n), func(rows []consoleRow) bool { return len(rows) == n })
		for i, row := range rows {
			// Newest first: row i is request n-1-i, from a if even.
			want, log := n-1-i, "b/audit.log"
			if want%2 == 0 {
				log = "a/audit.log"
			}
			if row.Target != fmt.Sprintf("configmaps default/cm-%d", want) || row.Log != log {
				t.Errorf("row %d: %s from %q, want cm-%d from %s", i, row.Target, row.Log, want, log)
			}
		}
	}
	check(8)
	// Followed: a new request in b's log comes on top, named b's.
	f, err := os.OpenFile(logB, os.O_APPEND|os.O_WRONLY, 0)
	mustDo(t, err)
	_, err = f.WriteString(event(9))
	mustDo(t, err)
	mustDo(t, f.Close())
	rows := waitRows(t, ctx, "the new request", func(rows []consoleRow) bool { return len(rows) == 9 })
	if rows[0].Target != "configmaps default/cm-9" || rows[0].Log != "b/audit.log" {
		t.Errorf("the followed request: %+v", rows[0])
	}
}

// The console is safe to leave running: nothing is served without the
// start's token (a 401, the cookie HttpOnly, the token gone from the URL),
// every answer forbids scripts but its own, and audit text that carries
// markup (user names, user agents, URIs, names, annotations) is shown as
// text in the list, the detail and the text filter, never run.
func TestConsoleIsSafeToLeaveRunning(t *testing.T) {
	t.Parallel()
	const payload = `<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>`
	at := metav1.NewMicroTime(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	e := auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, Level: auditv1.LevelRequestResponse,
		AuditID: "11111111-2222-3333-4444-555555555555", Stage: auditv1.StageResponseComplete, Verb: "create",
		RequestURI: "/api/v1/namespaces/default/configmaps?x=" + url.QueryEscape(payload), User: authnv1.UserInfo{Username: "mallory" + payload},
		UserAgent: "agent" + payload, Annotations: map[string]string{"example.com/note": payload},
		ObjectRef:      &auditv1.ObjectReference{Resource: "configmaps", Namespace: "default", Name: "cm" + payload, APIVersion: "v1"},
		ResponseStatus: &metav1.Status{Code: 201}, RequestReceivedTimestamp: at, StageTimestamp: at}
	line, err := json.Marshal(e)
	mustDo(t, err)
	log := filepath.Join(t.TempDir(), "audit.log")
	mustDo(t, os.WriteFile(log, append(line, '\n'), 0o600))
	base := startConsole(t, log, "")

	for _, u := range []string{base, base + "?token=wrong", base + "api/requests", base + "static/app.js"} {
		res, err := http.Get(u)
		mustDo(t, err)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", u, res.StatusCode)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
			res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", u, res.Header)
		}
	}
	res := consoleGet(t, base+"api/requests")
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the API with the token: %d", res.StatusCode)
	}

	ctx := consoleBrowser(t, base)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	mustDo(t, err)
	if loc != base {
		t.Errorf("the page's URL after opening it with the token: %s, want %s (the token gone)", loc, base)
	}
	if cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie")); err != nil || cookies != "" {
		t.Errorf("the page's script sees cookies %q (%v): want the token's HttpOnly", cookies, err)
	}
	rows := waitRows(t, ctx, "the request", func(rows []consoleRow) bool { return len(rows) == 1 })
	if rows[0].User != "mallory"+payload || !strings.Contains(rows[0].Target, "cm"+payload) {
		t.Errorf("the row shows %+v, want the markup as text", rows[0])
	}
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows tr.req`))))
	detail := waitText(t, ctx, "#detail", "agent"+payload)
	if !strings.Contains(detail, "example.com/note") {
		t.Errorf("the detail lacks the annotation:\n%s", detail)
	}
	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(base+"?q="+url.QueryEscape("<script>window.pwned"))))
	waitRows(t, ctx, "the text filter on markup", func(rows []consoleRow) bool { return len(rows) == 1 })
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned !== undefined || document.querySelectorAll('img[src="x"], script:not([src])').length > 0`))
	mustDo(t, err)
	if injected {
		t.Error("audit text became markup: an injected element or script ran")
	}
}

// Above the rows, the requests per second stacked by code class and the
// latency by verb; a drag over the bars sets since and until in the URL and
// the rows follow.
func TestConsoleTimeline(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var lines []byte
	// 30 requests a second apart: 201, 404, 500 in turn; get and create in
	// turn; request i answered in i+1 ms.
	for i := range 30 {
		verb, code := "get", []int32{201, 404, 500}[i%3]
		if i%2 == 1 {
			verb = "create"
		}
		at := metav1.NewMicroTime(t0.Add(time.Duration(i) * time.Second))
		received := auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, Level: auditv1.LevelMetadata,
			AuditID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i)), Stage: auditv1.StageRequestReceived, Verb: verb,
			RequestURI: fmt.Sprintf("/api/v1/namespaces/default/configmaps/cm-%d", i), User: authnv1.UserInfo{Username: "alice"},
			ObjectRef:                &auditv1.ObjectReference{Resource: "configmaps", Namespace: "default", Name: fmt.Sprintf("cm-%d", i), APIVersion: "v1"},
			RequestReceivedTimestamp: at, StageTimestamp: at}
		complete := received
		complete.Stage, complete.ResponseStatus = auditv1.StageResponseComplete, &metav1.Status{Code: code}
		complete.StageTimestamp = metav1.NewMicroTime(at.Add(time.Duration(i+1) * time.Millisecond))
		for _, e := range []auditv1.Event{received, complete} {
			line, err := json.Marshal(e)
			mustDo(t, err)
			lines = append(append(lines, line...), '\n')
		}
	}
	log := filepath.Join(t.TempDir(), "audit.log")
	mustDo(t, os.WriteFile(log, lines, 0o600))
	base := startConsole(t, log, "")
	ctx := consoleBrowser(t, base)
	waitRows(t, ctx, "every request", func(rows []consoleRow) bool { return len(rows) == 30 })

	type bar struct {
		Bucket, N int
		Class     string
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[[]bar](`[...document.querySelectorAll('#timeline rect.bar')].map(r =>
		({Bucket: +r.dataset.bucket, N: +r.dataset.n, Class: r.dataset.class}))`))
	mustDo(t, err)
	byClass := map[string]int{}
	for _, b := range bars {
		byClass[b.Class] += b.N
		if want := []string{"2xx", "4xx", "5xx"}[b.Bucket%3]; b.N != 1 || b.Class != want {
			t.Errorf("bar of second %d: %d %s, want 1 %s", b.Bucket, b.N, b.Class, want)
		}
	}
	if len(bars) != 30 || fmt.Sprint(byClass) != "map[2xx:10 4xx:10 5xx:10]" {
		t.Errorf("%d bars, by class %v: want 30, ten of each", len(bars), byClass)
	}
	// Nearest rank over 15 each: get took 1, 3, ... 29 ms; create 2, 4, ... 30.
	latency, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#latency tbody tr')].map(tr => tr.innerText.replace(/\s+/g, " "))`))
	mustDo(t, err)
	if fmt.Sprint(latency) != "[create 15 16.0 ms 30.0 ms get 15 15.0 ms 29.0 ms]" {
		t.Errorf("latency by verb: %q", latency)
	}

	// A drag over the first half: whole seconds 0 to 15.
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.getElementById('timeline').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`))
	mustDo(t, err)
	y := box[1] + box[3]/2
	mustDo(t, chromedp.Do(ctx,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, box[0]+2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0]+box[2]/4, y),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, box[0]+box[2]/2, y, chromedp.ButtonLeft)))
	rows := waitRows(t, ctx, "the rows of the range", func(rows []consoleRow) bool { return len(rows) == 15 })
	for _, r := range rows {
		if r.Time < "10:00:00.000" || r.Time >= "10:00:15.000" {
			t.Errorf("row at %s outside the range", r.Time)
		}
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	mustDo(t, err)
	u, err := url.Parse(loc)
	mustDo(t, err)
	if u.Query().Get("since") != "2026-12-03T10:00:00.000Z" || u.Query().Get("until") != "2026-12-03T10:00:15.000Z" {
		t.Errorf("the URL after the drag: %s", loc)
	}
	if got := apiRows(t, base, u.RawQuery); len(got) != 15 {
		t.Errorf("the API for the range's URL: %d rows", len(got))
	}
}
