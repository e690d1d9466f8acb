package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// consoleLatency measures the live console (auditctl console) as a person
// sees it: events are appended to a log at a fixed rate, as the server's
// log backend writes them; a headless Chromium shows the page; the time
// from an event written to its row in the page, and the console's CPU and
// memory while it follows.
func consoleLatency(work string) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		say("## Live console\n\nSkipped: no `chromium` on this machine (hack/install-deps.sh installs it).\n")
		return
	}
	say("## Live console: from an event written to its row in the page (`auditctl console`, headless Chromium, %s per rate)\n", *duration*2)
	say("Each request is two lines (RequestReceived, ResponseComplete) appended to the log; a row counts when the page shows it.\n")
	say("| events/s | rows seen | median | p99 | console CPU | console RSS |")
	say("|---|---|---|---|---|---|")
	for _, rate := range []int{100, 1000} {
		dir := filepath.Join(work, fmt.Sprintf("console-%d", rate))
		check(os.MkdirAll(dir, 0o700))
		log := filepath.Join(dir, "audit.log")
		check(os.WriteFile(log, nil, 0o600))
		port, err := proc.FreePort()
		check(err)
		cmd := exec.Command(filepath.Join(*binDir, "auditctl"), "console", "--log", log, "--address", fmt.Sprintf("127.0.0.1:%d", port))
		out, err := cmd.StdoutPipe()
		check(err)
		check(cmd.Start())
		line, err := bufio.NewReader(out).ReadString('\n')
		check(err)
		base := strings.TrimSpace(line[strings.Index(line, " at ")+4:])

		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.UserDataDir(filepath.Join(dir, "chromium")))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		check(chromedp.Do(ctx, chromedp.Navigate(base)))
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('live').textContent === 'live'`, chromedp.WithPollingTimeout(30*time.Second)))
		check(err)
		_, err = chromedp.Run(ctx, chromedp.Evaluate[any](`window.seen = {}; new MutationObserver(() => {
			const now = performance.timeOrigin + performance.now();
			for (const tr of document.querySelectorAll('#rows tr.req')) if (!(tr.dataset.id in window.seen)) window.seen[tr.dataset.id] = now;
		}).observe(document.getElementById('rows'), {childList: true}); true`))
		check(err)

		cpu0 := processCPU(cmd.Process.Pid)
		written := writeAtRate(log, rate, *duration*2)
		cpu := processCPU(cmd.Process.Pid) - cpu0
		rss := rssMiB(cmd.Process.Pid)
		var seen map[string]float64
		deadline := time.Now().Add(10 * time.Second)
		for {
			seen, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`window.seen`))
			check(err)
			if len(seen) >= len(written) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		var lat []float64
		for id, at := range written {
			if ms, ok := seen[id]; ok {
				lat = append(lat, ms-float64(at.UnixNano())/1e6)
			}
		}
		sort.Float64s(lat)
		p99 := 0.0
		if len(lat) > 0 {
			p99 = lat[len(lat)*99/100]
		}
		say("| %d | %d of %d | %.0f ms | %.0f ms | %.1f%% of a core | %.0f MiB |", rate, len(lat), len(written), median(lat), p99,
			100*cpu/(*duration*2).Seconds(), rss)
		cancel()
		cancelAlloc()
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	say("\nA row not seen was pushed past the first page (100 rows) between two of the page's refreshes; it is in the")
	say("totals and one \"older requests\" away.\n")
}

// writeAtRate appends requests (two events each) to log at rate events a
// second for d, every 10 ms, and returns when each request was written.
func writeAtRate(log string, rate int, d time.Duration) map[string]time.Time {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	check(err)
	defer f.Close()
	written := map[string]time.Time{}
	perTick := float64(rate) / 2 / 100 // requests per 10 ms
	owed := 0.0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	n := 0
	for time.Now().Before(end) {
		<-tick.C
		owed += perTick
		var buf []byte
		var ids []string
		for ; owed >= 1; owed-- {
			id := fmt.Sprintf("bench-%07d", n)
			n++
			now := metav1.NewMicroTime(time.Now())
			e := auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, AuditID: types.UID(id),
				Level: auditv1.LevelMetadata, Stage: auditv1.StageRequestReceived, Verb: "get", RequestURI: "/api/v1/namespaces/load/pods/" + id,
				User: authnv1.UserInfo{Username: "loader", Groups: []string{"system:authenticated"}}, RequestReceivedTimestamp: now, StageTimestamp: now,
				ObjectRef: &auditv1.ObjectReference{Resource: "pods", Namespace: "load", Name: id, APIVersion: "v1"}}
			line, err := json.Marshal(e)
			check(err)
			buf = append(append(buf, line...), '\n')
			e.Stage, e.ResponseStatus = auditv1.StageResponseComplete, &metav1.Status{Code: 200}
			line, err = json.Marshal(e)
			check(err)
			buf = append(append(buf, line...), '\n')
			ids = append(ids, id)
		}
		if len(buf) == 0 {
			continue
		}
		_, err := f.Write(buf)
		check(err)
		at := time.Now()
		for _, id := range ids {
			written[id] = at
		}
	}
	return written
}
