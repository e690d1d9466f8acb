// Command bench measures mini-apiserver (make bench): start-up, memory,
// throughput and latency with each audit configuration compared with audit
// off in the same run, and the raw etcd rate. It prints a report and writes
// it to docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

var (
	binDir       = flag.String("bin", "bin", "directory with mini-apiserver and etcd")
	out          = flag.String("out", "docs/performance.md", "report file")
	runs         = flag.Int("runs", 5, "start-up runs per case")
	duration     = flag.Duration("duration", 4*time.Second, "duration of each throughput measurement")
	rounds       = flag.Int("rounds", 3, "interleaved rounds of the throughput comparison")
	concurrency  = flag.Int("concurrency", 8, "client concurrency")
	objectSize   = flag.Int("object-size", 1024, "pod padding bytes")
	sections     = flag.String("sections", "all", "comma-separated sections to run: startup, memory, throughput, storage, hop, gogc, delivery, writes, hot (the report is written only for all)")
	writesFor    = flag.Duration("writes-duration", 105*time.Second, "duration of each sustained-write memory measurement (past the watch cache's 75 s history)")
	deliveryStep = flag.Duration("delivery-step", 10*time.Second, "duration of each step of the webhook delivery measurement")
)

var report strings.Builder

func say(format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	fmt.Println(line)
	report.WriteString(line + "\n")
}

func main() {
	flag.Parse()
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	work, err := os.MkdirTemp("", "mini-bench-")
	check(err)
	defer os.RemoveAll(work)

	host, _ := os.Hostname()
	say("# Performance\n")
	say("Measured by `make bench` (`go run ./hack/bench -bin bin -runs %d -duration %s -rounds %d -concurrency %d -object-size %d`) on %s.",
		*runs, *duration, *rounds, *concurrency, *objectSize, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	say("Machine: %s, %d cores (%s), %s memory; server, etcd and load generator share the cores.", host, runtime.NumCPU(), cpuModel(), memTotal())
	say("How the figures are made and what they say: [performance-notes.md](performance-notes.md).\n")

	for _, sec := range []struct {
		name string
		run  func(string)
	}{{"startup", startup}, {"memory", memory}, {"throughput", throughput}, {"storage", storage}, {"hop", etcdHop}, {"gogc", gcTarget}, {"delivery", webhookDelivery}, {"writes", memoryUnderWrites}, {"hot", hotCode}} {
		if *sections == "all" || slices.Contains(strings.Split(*sections, ","), sec.name) {
			sec.run(work)
		}
	}

	if *sections == "all" {
		check(os.WriteFile(*out, []byte(report.String()), 0o644))
		fmt.Printf("\nwritten to %s\n", *out)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	cmd        *exec.Cmd
	dataDir    string
	kubeconfig string
	client     *kubernetes.Clientset
	cfg        *rest.Config
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start execs the binary and returns once /readyz is 200, with the time
// from exec to that first 200.
func start(dataDir string, args ...string) (*server, time.Duration) {
	return startEnv(nil, dataDir, args...)
}

// startEnv is start with env added to the server's environment.
func startEnv(env []string, dataDir string, args ...string) (*server, time.Duration) {
	s := &server{dataDir: dataDir, kubeconfig: filepath.Join(dataDir, "admin.kubeconfig")}
	port := freePort()
	s.cmd = exec.Command(filepath.Join(*binDir, "mini-apiserver"), append([]string{"--data-dir=" + dataDir, fmt.Sprintf("--secure-port=%d", port)}, args...)...)
	if env != nil {
		s.cmd.Env = append(os.Environ(), env...)
	}
	t0 := time.Now()
	check(s.cmd.Start())
	for {
		if time.Since(t0) > 60*time.Second {
			check(fmt.Errorf("server did not become ready"))
		}
		if s.client == nil {
			if cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig); err == nil && strings.Contains(cfg.Host, strconv.Itoa(port)) {
				s.cfg = cfg
				s.client, _ = loadgen.Client(cfg)
			}
		}
		if s.client != nil {
			var code int
			s.client.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(time.Second).Do(context.Background()).StatusCode(&code)
			if code == http.StatusOK {
				return s, time.Since(t0)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// procStatusMiB reads a size field (VmRSS, RssAnon, RssFile) of /proc/<pid>/status.
func procStatusMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(n) / 1024
		}
	}
	return 0
}

func rssMiB(pid int) float64 { return procStatusMiB(pid, "VmRSS") }

func stats(ds []time.Duration) string {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }
	return fmt.Sprintf("%s ms (range %s-%s)", ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
}

func startup(work string) {
	say("## Start-up (exec to the first 200 on /readyz)\n")
	say("| case | median (range) over %d runs |", *runs)
	say("|---|---|")
	var fresh, existing, inproc []time.Duration
	for i := 0; i < *runs; i++ {
		s, d := start(filepath.Join(work, fmt.Sprintf("fresh-%d", i)))
		fresh = append(fresh, d)
		s.stop()
	}
	dir := filepath.Join(work, "existing")
	s, _ := start(dir)
	s.stop()
	for i := 0; i < *runs; i++ {
		s, d := start(dir)
		existing = append(existing, d)
		s.stop()
	}
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		h, err := harness.Start(context.Background(), harness.Options{})
		check(err)
		inproc = append(inproc, time.Since(t0))
		check(h.Stop())
	}
	say("| binary, fresh data dir (embedded etcd, certificates generated) | %s |", stats(fresh))
	say("| binary, existing data dir | %s |", stats(existing))
	say("| in-process harness (`harness.Start`) | %s |", stats(inproc))
	say("")
}

func ensureNS(c kubernetes.Interface, ns string) {
	_, _ = c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
}

// variant is a server configuration compared with others.
type variant struct {
	name      string
	env, args []string
}

// startLoaded starts a server with namespace "load" holding the pool of 100
// pods the load generator works on.
func startLoaded(dataDir string, v variant) *server {
	s, _ := startEnv(v.env, dataDir, v.args...)
	ensureNS(s.client, "load")
	check(loadgen.EnsurePool(context.Background(), s.client, "load", 100, *objectSize))
	return s
}

func policyFile(work, level string) string {
	p := filepath.Join(work, "policy-"+level+".yaml")
	check(os.WriteFile(p, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: "+level+"\n"), 0o600))
	return p
}

func memory(work string) {
	say("## Memory (RSS of the mini-apiserver process, embedded etcd included)\n")
	s, _ := start(filepath.Join(work, "mem"))
	time.Sleep(2 * time.Second) // settle: the figure is idle RSS, not a condition
	pid := s.cmd.Process.Pid
	idle, anon, file := rssMiB(pid), procStatusMiB(pid, "RssAnon"), procStatusMiB(pid, "RssFile")
	heap := s.metric("go_memstats_heap_inuse_bytes") / (1 << 20)
	ensureNS(s.client, "mem")
	t0 := time.Now()
	var wg sync.WaitGroup
	var next int64 = -1
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= 10000 {
					return
				}
				_, _ = s.client.CoreV1().Pods("mem").Create(context.Background(), loadgen.Pod("mem", fmt.Sprintf("p-%05d", i), *objectSize), metav1.CreateOptions{})
			}
		}()
	}
	wg.Wait()
	after := rssMiB(pid)
	s.stop()
	say("| state | RSS |")
	say("|---|---|")
	say("| idle after start-up | %.0f MiB: %.0f MiB file-backed (the binary's code and data), %.0f MiB anonymous (Go heap in use %.0f MiB) |", idle, file, anon, heap)
	say("| after 10,000 pods of %d B (created in %s) | %.0f MiB |", *objectSize, time.Since(t0).Round(time.Second), after)
	say("")
	say("Audit cost per request: %s of creates at each level to the log backend; allocated bytes per request from", *duration)
	say("`go_memstats_alloc_bytes_total`, peak RSS sampled every 100 ms.\n")
	say("| audit level | allocated per create | peak RSS |")
	say("|---|---|---|")
	for _, level := range []string{"None", "Metadata", "Request", "RequestResponse"} {
		dir := filepath.Join(work, "mem-"+level)
		s, _ := start(dir, "--audit-policy-file="+policyFile(work, level), "--audit-log-path="+filepath.Join(dir, "audit.log"))
		ensureNS(s.client, "load")
		var peak float64
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
					peak = max(peak, rssMiB(s.cmd.Process.Pid))
				}
			}
		}()
		alloc0 := s.metric("go_memstats_alloc_bytes_total")
		res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: "create", Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load"})
		check(err)
		perRequest := (s.metric("go_memstats_alloc_bytes_total") - alloc0) / float64(res.Requests)
		close(done)
		<-sampled
		s.stop()
		say("| %s | %.0f KiB | %.0f MiB |", level, perRequest/1024, peak)
	}
	say("")
}

type config struct {
	name string
	args func(dir string) []string
}

func throughput(work string) {
	snk, err := sink.Start(sink.Options{DiscardInMemory: true})
	check(err)
	defer snk.Close()
	wh := webhookKubeconfig(work, snk)
	meta, rr := policyFile(work, "Metadata"), policyFile(work, "RequestResponse")
	configs := []config{
		{"audit off", func(string) []string { return nil }},
		{"Metadata to the log (blocking)", func(d string) []string {
			return []string{"--audit-policy-file=" + meta, "--audit-log-path=" + filepath.Join(d, "audit.log"), "--audit-log-maxsize=0"}
		}},
		{"RequestResponse to the log (blocking)", func(d string) []string {
			return []string{"--audit-policy-file=" + rr, "--audit-log-path=" + filepath.Join(d, "audit.log"), "--audit-log-maxsize=0"}
		}},
		{"Metadata to a batch webhook", func(string) []string {
			return []string{"--audit-policy-file=" + meta, "--audit-webhook-config-file=" + wh}
		}},
		{"Metadata to a blocking webhook", func(string) []string {
			return []string{"--audit-policy-file=" + meta, "--audit-webhook-config-file=" + wh, "--audit-webhook-mode=blocking"}
		}},
	}
	servers := make([]*server, len(configs))
	for i, c := range configs {
		dir := filepath.Join(work, fmt.Sprintf("tp-%d", i))
		servers[i] = startLoaded(dir, variant{name: c.name, args: c.args(dir)})
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	say("## Throughput and latency (concurrency %d, %d B pods, %s per measurement)\n", *concurrency, *objectSize, *duration)
	say("Each round measures every configuration in turn; a ratio is a configuration's rate over audit off's in the same")
	say("round. The table gives medians over %d rounds, and the spread of the audit-off rate (noise).\n", *rounds)
	notes := map[string]string{
		"list":   "list: 50 pods a page from a namespace of 100+.",
		"update": "update: a PUT of a pool pod (no resourceVersion).",
		"delete": "delete: each operation is a create and then a delete of that pod.",
		"watch": fmt.Sprintf("watch fan-out: %d watchers on the pool while two writers patch pool pods; a request is one event "+
			"received by one watcher; latency is from the patch's send to the receipt.", *concurrency),
	}
	for _, op := range loadgen.Ops {
		if op == "list" {
			l, err := servers[0].client.CoreV1().Pods("load").List(context.Background(), metav1.ListOptions{Limit: 1})
			check(err)
			if l.RemainingItemCount != nil {
				notes[op] = fmt.Sprintf("list: pages of 50 pods from a namespace of %d (the pool and what the create rounds made).", *l.RemainingItemCount+1)
			}
		}
		if note, ok := notes[op]; ok {
			say("%s\n", note)
		}
		names := make([]string, len(configs))
		for i, c := range configs {
			names[i] = c.name
		}
		results := interleaved(servers, names, op)
		say("| %s | req/s | ratio to audit off | p50 | p99 | errors |", op)
		say("|---|---|---|---|---|---|")
		for i, c := range configs {
			var p50, p99 []time.Duration
			var errs int64
			for _, res := range results[i] {
				p50, p99 = append(p50, res.P50), append(p99, res.P99)
				errs += res.Errors
			}
			rate, ratio := rateAndRatio(results, i)
			say("| %s | %.0f | %.2f | %s | %s | %d |", c.name, rate, ratio, medianD(p50), medianD(p99), errs)
		}
		var off []float64
		for _, res := range results[0] {
			off = append(off, res.Rate())
		}
		sort.Float64s(off)
		say("\nNoise: audit-off %s rate ranged %.0f-%.0f req/s over the rounds (%.0f%%).\n", op, off[0], off[len(off)-1], 100*(off[len(off)-1]-off[0])/median(off))
		if op == "get" || op == "create" {
			cpuPerRequest(servers, configs, op, median(off)/2)
		}
	}
}

// cpuPerRequest separates the server's own audit cost from that of the
// receiving side: at a fixed rate every configuration sustains, the CPU time
// of the server process and of this process (load generator and in-process
// sink) per request.
func cpuPerRequest(servers []*server, configs []config, op string, rate float64) {
	say("CPU per %s at a fixed %.0f req/s (half the audit-off rate), %s each, after the rounds above:\n", op, rate, *duration)
	say("| %s | server CPU per request | ratio to audit off | load generator + sink CPU per request |", op)
	say("|---|---|---|---|")
	var base float64
	for i, s := range servers {
		server0, self0 := processCPU(s.cmd.Process.Pid), selfCPU()
		res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: op, Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load", Rate: rate})
		check(err)
		n := float64(res.Requests)
		server := (processCPU(s.cmd.Process.Pid) - server0) / n
		self := (selfCPU() - self0) / n
		if i == 0 {
			base = server
		}
		say("| %s | %.0f µs | %.2f | %.0f µs |", configs[i].name, server*1e6, server/base, self*1e6)
	}
	say("")
}

// processCPU is a process's user+system CPU seconds from /proc/<pid>/stat.
func processCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th of the whole line.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

func selfCPU() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func webhookKubeconfig(work string, snk *sink.Sink) string {
	wh := filepath.Join(work, fmt.Sprintf("webhook-%s.kubeconfig", strings.ReplaceAll(snk.Addr(), ":", "-")))
	check(os.WriteFile(wh, []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster: {server: %q}\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: s\n  context: {cluster: s, user: u}\ncurrent-context: s\n", snk.URL()+"/audit")), 0o600))
	return wh
}

// metrics reads samples of the server's /metrics in one fetch, 0 for an
// absent one.
func (s *server) metrics(samples ...string) []float64 {
	body, err := s.client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	check(err)
	values := make([]float64, len(samples))
	for _, line := range strings.Split(string(body), "\n") {
		for i, sample := range samples {
			if v, ok := strings.CutPrefix(line, sample+" "); ok {
				values[i], err = strconv.ParseFloat(v, 64)
				check(err)
			}
		}
	}
	return values
}

func (s *server) metric(sample string) float64 { return s.metrics(sample)[0] }

// auditCounts are the server's counts of audit events generated, dropped
// (buffer full) and failed (delivery).
type auditCounts struct{ generated, dropped, failed float64 }

func (s *server) auditCounts() auditCounts {
	v := s.metrics("apiserver_audit_event_total", `apiserver_audit_error_total{plugin="buffered"}`, `apiserver_audit_error_total{plugin="webhook"}`)
	return auditCounts{v[0], v[1], v[2]}
}

// delivered counts the events the sink acknowledged, and those acknowledged
// since t.
func delivered(snk *sink.Sink, since time.Time) (all, after int) {
	for _, a := range snk.Attempts() {
		if a.Status == http.StatusOK {
			all += a.Events
			if !a.Time.Before(since) {
				after += a.Events
			}
		}
	}
	return all, after
}

// webhookDelivery steps the event rate up against a batch webhook to a local
// sink and reports, for each step, what was offered, delivered and dropped;
// the events neither delivered nor counted as lost must be zero.
func webhookDelivery(work string) {
	say("## Webhook delivery (Metadata events of gets to a batch webhook on a local sink, %s per step)\n", *deliveryStep)
	say("Each get makes two events (RequestReceived, ResponseComplete). After each step the bench waits for the buffer")
	say("to drain. Dropped: `apiserver_audit_error_total{plugin=\"buffered\"}` (buffer full) and `{plugin=\"webhook\"}`")
	say("(delivery failed); unaccounted = generated - delivered - dropped, which must be 0.\n")
	// The bench's own /metrics scrapes stay out of the count.
	meta := filepath.Join(work, "policy-delivery.yaml")
	check(os.WriteFile(meta, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [/metrics]\n- level: Metadata\n"), 0o600))
	for _, c := range []struct {
		name  string
		flags []string
	}{
		{"default batch settings (throttle 10 batches/s, burst 15, 400 events a batch, buffer 10000)", nil},
		{"throttling off (`--audit-webhook-batch-throttle-enable=false`)", []string{"--audit-webhook-batch-throttle-enable=false"}},
	} {
		snk, err := sink.Start(sink.Options{DiscardInMemory: true})
		check(err)
		dir := filepath.Join(work, fmt.Sprintf("delivery-%d", len(c.flags)))
		s := startLoaded(dir, variant{args: append([]string{"--audit-policy-file=" + meta, "--audit-webhook-config-file=" + webhookKubeconfig(work, snk)}, c.flags...)})
		say("%s:\n", c.name)
		say("| offered req/s | events generated/s | delivered/s during the step | dropped (buffer full) | failed deliveries | unaccounted | drained after |")
		say("|---|---|---|---|---|---|---|")
		for _, rate := range []float64{1000, 2000, 3000, 0} {
			waitDrained := func() (time.Duration, int) {
				t0 := time.Now()
				for {
					c := s.auditCounts()
					all, _ := delivered(snk, t0)
					if float64(all)+c.dropped+c.failed >= c.generated || time.Since(t0) > 90*time.Second {
						return time.Since(t0), int(c.generated - c.dropped - c.failed - float64(all))
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			waitDrained()
			before := s.auditCounts()
			del0, _ := delivered(snk, time.Now())
			t0 := time.Now()
			res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: "get", Concurrency: *concurrency, Duration: *deliveryStep, Namespace: "load", Rate: rate})
			check(err)
			_, during := delivered(snk, t0)
			stepped := time.Since(t0)
			drain, unaccounted := waitDrained()
			after := s.auditCounts()
			generated, dropped, failed := after.generated-before.generated, after.dropped-before.dropped, after.failed-before.failed
			all, _ := delivered(snk, t0)
			offered := "as fast as it goes"
			if rate > 0 {
				offered = fmt.Sprintf("%.0f", rate)
			}
			fmt.Printf("  %s %s: %.0f events, %d delivered, %.0f dropped, %.0f failed\n", c.name, offered, generated, all-del0, dropped, failed)
			say("| %s (got %.0f) | %.0f | %.0f | %.0f | %.0f | %d | %s |", offered, res.Rate(), generated/stepped.Seconds(),
				float64(during)/stepped.Seconds(), dropped, failed, unaccounted, drain.Round(100*time.Millisecond))
		}
		say("")
		s.stop()
		check(snk.Close())
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func medianD(v []time.Duration) string {
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(10 * time.Microsecond).String()
}

func storage(work string) {
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort())
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort())
	cmd := exec.Command(filepath.Join(*binDir, "etcd"), "--name=bench", "--data-dir="+filepath.Join(work, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client, "--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer, "--initial-cluster=bench="+peer, "--log-level=error")
	check(cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second})
	check(err)
	defer c.Close()
	for t0 := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "x")
		cancel()
		if err == nil {
			break
		}
		if time.Since(t0) > 30*time.Second {
			check(err)
		}
	}
	value := strings.Repeat("x", *objectSize+600) // about a stored 1 KiB pod
	rate := func(op func(i int64) error) float64 {
		var n int64
		ctx, cancel := context.WithTimeout(context.Background(), *duration)
		defer cancel()
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if op(atomic.AddInt64(&n, 1)) != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(t0).Seconds()
	}
	put := rate(func(i int64) error {
		_, err := c.Put(context.Background(), fmt.Sprintf("/registry/pods/bench/p-%d", i), value)
		return err
	})
	get := rate(func(i int64) error {
		_, err := c.Get(context.Background(), fmt.Sprintf("/registry/pods/bench/p-%d", i%1000+1))
		return err
	})
	say("## Storage limit (bin/etcd on loopback, plain etcd client, concurrency %d)\n", *concurrency)
	say("| op | req/s |")
	say("|---|---|")
	say("| put (%d B values) | %.0f |", len(value), put)
	say("| range (one key, linearizable) | %.0f |", get)
}

// etcdHop compares the server-to-etcd hop: the embedded etcd (mutual TLS on
// loopback TCP) with an external bin/etcd reached over plain loopback TCP and
// over a unix socket, interleaved as in the throughput comparison.
func etcdHop(work string) {
	dir, err := os.MkdirTemp("", "hop-") // a short path: unix socket paths are limited to 108 bytes
	check(err)
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "etcd.sock")
	tcp := fmt.Sprintf("http://127.0.0.1:%d", freePort())
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort())
	cmd := exec.Command(filepath.Join(*binDir, "etcd"), "--name=hop", "--data-dir="+filepath.Join(work, "hop-etcd"),
		"--listen-client-urls="+tcp+",unix://"+sock, "--advertise-client-urls="+tcp, "--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer, "--initial-cluster=hop="+peer, "--log-level=error")
	check(cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	variants := []variant{
		{name: "embedded etcd, mutual TLS on loopback TCP (the default)"},
		{name: "bin/etcd, plain loopback TCP", args: []string{"--etcd-servers=" + tcp, "--etcd-prefix=/tcp"}},
		{name: "bin/etcd, unix socket", args: []string{"--etcd-servers=unix://" + sock, "--etcd-prefix=/unix"}},
	}
	say("## The server-to-etcd hop (audit off, concurrency %d, medians of %d interleaved rounds of %s)\n", *concurrency, *rounds, *duration)
	compareGetCreate(work, "hop", "etcd", variants)
}

// gcTarget compares Go's default collector target with GOGC=200: speed
// bought with memory, a knob every user has.
func gcTarget(work string) {
	say("## The garbage collector's target (audit off, concurrency %d, medians of %d interleaved rounds of %s)\n", *concurrency, *rounds, *duration)
	rss := compareGetCreate(work, "gogc", "GOGC", []variant{{name: "Go's default (100)"}, {name: "`GOGC=200`", env: []string{"GOGC=200"}}})
	say("RSS after the rounds: %.0f MiB with the default, %.0f MiB with `GOGC=200`.\n", rss[0], rss[1])
}

// compareGetCreate starts a server of each variant, measures get and create
// on them interleaved, and tables rates and ratios to the first variant. It
// returns each server's RSS after the rounds.
func compareGetCreate(work, prefix, what string, variants []variant) []float64 {
	servers := make([]*server, len(variants))
	names := make([]string, len(variants))
	for i, v := range variants {
		servers[i] = startLoaded(filepath.Join(work, fmt.Sprintf("%s-%d", prefix, i)), v)
		names[i] = v.name
	}
	results := map[string][][]loadgen.Result{}
	for _, op := range []string{"get", "create"} {
		results[op] = interleaved(servers, names, op)
	}
	say("| %s | get req/s | ratio | create req/s | ratio | errors |", what)
	say("|---|---|---|---|---|---|")
	for i, v := range variants {
		var errs int64
		for _, res := range append(results["get"][i], results["create"][i]...) {
			errs += res.Errors
		}
		getRate, getRatio := rateAndRatio(results["get"], i)
		createRate, createRatio := rateAndRatio(results["create"], i)
		say("| %s | %.0f | %.2f | %.0f | %.2f | %d |", v.name, getRate, getRatio, createRate, createRatio, errs)
	}
	say("")
	rss := make([]float64, len(servers))
	for i, s := range servers {
		rss[i] = rssMiB(s.cmd.Process.Pid)
		s.stop()
	}
	return rss
}

// interleaved runs op on each server in turn, *rounds times over, and
// returns each server's results in round order, so that a ratio compares
// results of one round.
func interleaved(servers []*server, names []string, op string) [][]loadgen.Result {
	results := make([][]loadgen.Result, len(servers))
	for r := 0; r < *rounds; r++ {
		for i, s := range servers {
			res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: op, Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load"})
			check(err)
			results[i] = append(results[i], res)
			fmt.Printf("  round %d %-55s %s\n", r+1, names[i], res)
		}
	}
	return results
}

// rateAndRatio are the medians over rounds of server i's rate and of its
// rate over server 0's in the same round.
func rateAndRatio(results [][]loadgen.Result, i int) (rate, ratio float64) {
	var rates, ratios []float64
	for r, res := range results[i] {
		rates = append(rates, res.Rate())
		ratios = append(ratios, res.Rate()/results[0][r].Rate())
	}
	return median(rates), median(ratios)
}

// memoryUnderWrites follows RSS while pods are updated as fast as the
// workers go: the watch cache keeps at least 75 s of events (k8s.io/apiserver's
// minimum) and etcd every revision until the next compaction.
func memoryUnderWrites(work string) {
	say("## Memory under sustained writes (updates of 100 pods of %d B, concurrency %d, audit off, %s)\n", *objectSize, *concurrency, *writesFor)
	marks := []time.Duration{15 * time.Second, 30 * time.Second, 60 * time.Second, *writesFor}
	header := "| configuration | updates/s |"
	for _, m := range marks {
		header += fmt.Sprintf(" RSS at %s |", m)
	}
	say("%s", header)
	say("|---|---|%s", strings.Repeat("---|", len(marks)))
	for i, c := range []variant{
		{name: "kube's defaults (watch cache on, compaction every 5m)"},
		{name: "`--etcd-compaction-interval=30s`", args: []string{"--etcd-compaction-interval=30s"}},
		{name: "`--feature-gates=ListFromCacheSnapshot=false`", args: []string{"--feature-gates=ListFromCacheSnapshot=false"}},
		{name: "`--watch-cache=false`", args: []string{"--watch-cache=false"}},
	} {
		s := startLoaded(filepath.Join(work, fmt.Sprintf("writes-%d", i)), c)
		done := make(chan loadgen.Result)
		go func() {
			res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: "update", Concurrency: *concurrency, Duration: *writesFor, ObjectSize: *objectSize, Namespace: "load"})
			check(err)
			done <- res
		}()
		t0 := time.Now()
		var rss []float64
		for _, m := range marks {
			time.Sleep(time.Until(t0.Add(m)))
			rss = append(rss, rssMiB(s.cmd.Process.Pid))
		}
		res := <-done
		s.stop()
		row := fmt.Sprintf("| %s | %.0f |", c.name, res.Rate())
		for _, r := range rss {
			row += fmt.Sprintf(" %.0f MiB |", r)
		}
		say("%s", row)
	}
	say("")
}

// hotBenchmarks names the Go benchmarks of our own hot code.
var hotBenchmarks = map[string]string{
	"BenchmarkDecodePod":          "decode + default a pod request body",
	"BenchmarkPrepareAndValidate": "prepare for create + validate a pod",
	"BenchmarkValidateUpdate":     "validate a pod update",
	"BenchmarkTable100Pods":       "table of 100 pods",
	"BenchmarkDecodeEventList400": "decode a 400-event webhook delivery (sink)",
	"BenchmarkDeliverPerUser400":  "receive a 400-event delivery into per-user files (sink)",
}

// hotCode runs the Go benchmarks of our own hot code and tables them.
func hotCode(string) {
	pkgs := []string{"./pkg/api", "./pkg/registry/pod", "./pkg/audit/sink"}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		check(fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out))
	}
	say("## Hot code (Go benchmarks, `go %s`)\n", strings.Join(args, " "))
	say("| benchmark | time/op | allocs/op |")
	say("|---|---|---|")
	for _, line := range strings.Split(string(out), "\n") {
		// BenchmarkName-2   N   T ns/op   [S MB/s]   B B/op   A allocs/op
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name, _, _ := strings.Cut(f[0], "-")
		what, ok := hotBenchmarks[name]
		if !ok {
			what = name
		}
		ns, _ := strconv.ParseFloat(f[2], 64)
		d := time.Duration(ns)
		perOp := d.Round(100 * time.Nanosecond).String()
		if d > time.Millisecond {
			perOp = d.Round(10 * time.Microsecond).String()
		}
		if f[5] == "MB/s" {
			perOp += " (" + f[4] + " MB/s)"
			f = append(f[:4], f[6:]...)
		}
		bytesPerOp, _ := strconv.ParseFloat(f[4], 64)
		say("| %s | %s | %s (%.1f KB) |", what, perOp, f[6], bytesPerOp/1000)
	}
	say("")
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%.0f GiB", float64(kb)/1024/1024)
		}
	}
	return "?"
}
