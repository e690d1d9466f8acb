package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/component-base/metrics/testutil"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// victoriaLogs is a real VictoriaLogs (bin/victoria-logs) on loopback.
type victoriaLogs struct {
	t       *testing.T
	port    int
	dataDir string
	cmd     *exec.Cmd
	logs    *proc.SyncBuffer
}

func startVictoriaLogs(t *testing.T) *victoriaLogs {
	t.Helper()
	v := &victoriaLogs{t: t, port: freePort(t), dataDir: filepath.Join(t.TempDir(), "vl")}
	v.start()
	t.Cleanup(v.stop)
	return v
}

func (v *victoriaLogs) start() {
	v.t.Helper()
	v.logs = &proc.SyncBuffer{}
	v.cmd = exec.Command(victoriaLogsBin, "-httpListenAddr=127.0.0.1:"+strconv.Itoa(v.port), "-storageDataPath="+v.dataDir, "-loggerLevel=ERROR")
	v.cmd.Stdout, v.cmd.Stderr = v.logs, v.logs
	if err := v.cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	eventually(v.t, waitShort, "VictoriaLogs to serve", func() (bool, error) {
		resp, err := http.Get(v.base() + "/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// stop ends the process (one we started) gracefully, so that what it
// acknowledged is on disk, and waits for it.
func (v *victoriaLogs) stop() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	_ = v.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = v.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitShort):
		_ = v.cmd.Process.Kill()
		<-done
	}
	v.cmd = nil
}

func (v *victoriaLogs) base() string { return "http://127.0.0.1:" + strconv.Itoa(v.port) }

// bulkBase is the Elasticsearch bulk API base to give audit-sink: events'
// @timestamp is their time, requestURI their message.
func (v *victoriaLogs) bulkBase() string {
	return v.base() + "/insert/elasticsearch?_time_field=@timestamp&_msg_field=requestURI"
}

// query runs a LogsQL query; each result row is a map of fields.
func (v *victoriaLogs) query(q string) ([]map[string]string, error) {
	resp, err := http.PostForm(v.base()+"/select/logsql/query", url.Values{"query": {q}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("LogsQL query %q: HTTP %d", q, resp.StatusCode)
	}
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row map[string]string
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// countByStage counts the audit events in the store per stage.
func (v *victoriaLogs) countByStage() (map[string]int, error) {
	rows, err := v.query(`* | stats by (stage) count() n`)
	out := map[string]int{}
	for _, row := range rows {
		n, _ := strconv.Atoi(row["n"])
		out[row["stage"]] = n
	}
	return out, err
}

// audit-sink forwards what a real server delivers to VictoriaLogs through
// the Elasticsearch bulk API, under continuous requests, with the store down
// for ten seconds. With a buffer that holds the outage nothing is lost: the
// store has every event the server generated, once. With a tiny one the
// sink answers 503 to what does not fit, the server retries and then drops
// and counts: store + the server's counted loss == generated, exactly.
func TestAuditSinkForwardsToVictoriaLogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		buffer int
		lossy  bool
	}{{"buffer holds the outage", 1000000, false}, {"tiny buffer", 100, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forwardUnderOutage(t, tc.buffer, tc.lossy)
		})
	}
}

func forwardUnderOutage(t *testing.T, buffer int, lossy bool) {
	vl := startVictoriaLogs(t)
	out := filepath.Join(t.TempDir(), "events")
	port := freePort(t)
	cmd := exec.Command(sinkBin, fmt.Sprintf("--listen=127.0.0.1:%d", port), "--output-dir="+out,
		"--elasticsearch-url="+vl.bulkBase(), "--elasticsearch-flush-interval=200ms", "--elasticsearch-max-retry-duration=2m",
		"--elasticsearch-buffer-size="+strconv.Itoa(buffer))
	logs := &proc.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, waitShort, "audit-sink to listen", func() (bool, error) {
		return strings.Contains(logs.String(), "forwarding to"), nil
	})
	webhookConfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	mustDo(t, harness.WriteWebhookKubeconfig(webhookConfig, fmt.Sprintf("http://127.0.0.1:%d/audit", port), harness.WebhookClient{}))
	s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
		"--audit-webhook-config-file="+webhookConfig, "--audit-webhook-batch-max-wait=200ms", "--audit-webhook-initial-backoff=100ms")

	load := startPodLoad(t, s.Client(), "default")
	load.waitCreated(t, 50)
	vl.stop()
	t0 := time.Now()
	for time.Since(t0) < 10*time.Second { // the store stays down ten seconds under load
		load.waitCreated(t, 10)
	}
	vl.start()
	load.waitCreated(t, 50)
	load.Stop()

	// Every event is delivered or counted lost by the server; then the
	// store holds what the sink took, per stage, once.
	var inFile map[string]int
	var generated, lost float64
	eventually(t, waitLong, "every event the sink took to be in VictoriaLogs", func() (bool, error) {
		sm, err := s.Metrics(t.Context())
		if err != nil {
			return false, err
		}
		generated, lost = sm.Value("apiserver_audit_event_total"), sm.Value(`apiserver_audit_error_total{plugin="webhook"}`)
		events, err := expect.ReadFile(filepath.Join(out, "events.log"))
		if err != nil {
			return false, err
		}
		inFile = map[string]int{}
		for _, e := range events {
			inFile[string(e.Stage)]++
		}
		inStore, err := vl.countByStage()
		if err != nil {
			return false, err
		}
		delivered := float64(inFile["RequestReceived"] + inFile["ResponseComplete"])
		return fmt.Sprint(inStore) == fmt.Sprint(inFile) && delivered+lost == generated,
			fmt.Errorf("store %v, sink's file %v; server generated %v, lost %v", inStore, inFile, generated, lost)
	})
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	mustDo(t, err)
	defer resp.Body.Close()
	m, err := testutil.TextToMetricFamilies(resp.Body)
	mustDo(t, err)
	value := func(name, label, want string) float64 {
		for _, metric := range m[name].GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == label && l.GetValue() == want {
					return metric.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	for _, outcome := range []string{"rejected", "expired"} {
		if got := value("audit_sink_elasticsearch_documents_total", "outcome", outcome); got != 0 {
			t.Errorf("%s %v, want 0", outcome, got)
		}
	}
	if r := m["audit_sink_elasticsearch_retries_total"].GetMetric(); len(r) != 1 || r[0].GetCounter().GetValue() == 0 {
		t.Errorf("no retries counted across the outage")
	}
	refused := value("audit_sink_elasticsearch_documents_total", "outcome", "refused")
	switch {
	case !lossy && (lost != 0 || refused != 0):
		t.Errorf("with a buffer that holds the outage: %v refused by the sink, %v lost by the server", refused, lost)
	case lossy && (lost == 0 || refused == 0 || value("audit_sink_deliveries_total", "code", "503") == 0):
		t.Errorf("with a tiny buffer: %v refused by the sink (answered 503), %v lost by the server: want both", refused, lost)
	}
	t.Logf("%d pods; store and sink %v; server generated %v, lost %v; sink refused %v (answered 503, retried by the server)",
		load.created.Load(), inFile, generated, lost, refused)
}

// auditctl ship sends the log files to VictoriaLogs: a backfill with
// --once, then following the log under load across logrotate (create,
// delaycompress) and a restart of the shipper: the store ends with every
// event of every file, per stage, once.
func TestAuditctlShipsToVictoriaLogs(t *testing.T) {
	t.Parallel()
	vl := startVictoriaLogs(t)
	s, dir, log := auditLogServer(t, "--audit-log-maxsize=0")
	work := t.TempDir()
	position := filepath.Join(work, "position.json")
	ship := func(extra ...string) *exec.Cmd {
		args := append([]string{"ship", "--log=" + log, "--position-file=" + position, "--elasticsearch-url=" + vl.bulkBase()}, extra...)
		return exec.Command(auditctlBin, args...)
	}
	stageCounts := func() map[string]int {
		counts := map[string]int{}
		for _, e := range logEvents(t, dir) {
			counts[string(e.Stage)]++
		}
		return counts
	}
	waitStoreHas := func(what string) {
		t.Helper()
		eventually(t, waitLong, what, func() (bool, error) {
			want := stageCounts()
			got, err := vl.countByStage()
			if err != nil {
				return false, err
			}
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Errorf("store %v, files %v", got, want)
		})
	}

	load := startPodLoad(t, s.Client(), "default")
	load.waitCreated(t, 30)
	load.Stop()
	// The backfill says which server wrote the log; the follower below
	// takes the machine's host name.
	out, err := ship("--once", "--server-name=control-plane-a").CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl ship --once: %v\n%s", err, out)
	}
	waitStoreHas("the backfill in the store")
	backfilled := stageCounts()["ResponseComplete"]
	if out, err := ship("--once").CombinedOutput(); err != nil || !strings.Contains(string(out), "auditctl ship: 0 events shipped") {
		t.Errorf("a second --once shipped again: %v\n%s", err, out)
	}

	conf := filepath.Join(dir, "audit.conf")
	mustDo(t, os.WriteFile(conf, []byte(logrotateConfig(log, "create")), 0o600))
	rotate := func() {
		t.Helper()
		if out, err := exec.Command("logrotate", "--force", "--state", filepath.Join(work, "logrotate.state"), conf).CombinedOutput(); err != nil {
			t.Fatalf("logrotate: %v\n%s", err, out)
		}
	}
	follow := func() (*exec.Cmd, *proc.SyncBuffer) {
		cmd := ship()
		logs := &proc.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		mustDo(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, logs
	}
	load = startPodLoad(t, s.Client(), "default")
	shipper, logs := follow()
	for range 2 {
		load.waitCreated(t, 40)
		rotate()
	}
	// A restart of the shipper under load: it resumes from its position.
	mustDo(t, shipper.Process.Signal(syscall.SIGTERM))
	if err := shipper.Wait(); err != nil {
		t.Fatalf("auditctl ship after SIGTERM: %v\n%s", err, logs.String())
	}
	load.waitCreated(t, 40)
	follow()
	for range 2 {
		load.waitCreated(t, 40)
		rotate()
	}
	load.waitCreated(t, 40)
	load.Stop()
	waitStoreHas("every event of every file in the store, once")

	// docs/collection.md's "requests per user", answered from the store.
	rows, err := vl.query(`stage:ResponseComplete | stats by (user.username) count() requests`)
	mustDo(t, err)
	if want := stageCounts()["ResponseComplete"]; len(rows) != 1 || rows[0]["user.username"] != "kubernetes-admin" || rows[0]["requests"] != strconv.Itoa(want) {
		t.Errorf("requests per user: %v, want kubernetes-admin with %d", rows, want)
	}
	// docs/collection.md's "requests per server".
	rows, err = vl.query(`stage:ResponseComplete | stats by (host.name) count() requests | sort by (host.name)`)
	mustDo(t, err)
	host, err := os.Hostname()
	mustDo(t, err)
	want := map[string]string{"control-plane-a": strconv.Itoa(backfilled), host: strconv.Itoa(stageCounts()["ResponseComplete"] - backfilled)}
	got := map[string]string{}
	for _, r := range rows {
		got[r["host.name"]] = r["requests"]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests per server: %v, want %v", got, want)
	}
}
