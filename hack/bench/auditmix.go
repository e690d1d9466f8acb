package main

import (
	"context"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

var (
	auditMixFor     = flag.Duration("auditmix-duration", 10*time.Second, "how long the auditmix section runs its create/get mix in each configuration")
	auditMixLatency = flag.Duration("auditmix-webhook-latency", 200*time.Millisecond, "how long the auditmix section's slow webhook receiver takes to answer a batch")
	auditMixRate    = flag.Float64("auditmix-rate", 150, "creates a second, and as many gets, the auditmix section offers each server (the same load on both, chosen below what either sustained in every configuration on the 2-core VM of docs/performance.md; the table gives the rates each reached; 0: as fast as each goes)")
)

// mixResult is one server's run of the mix in one configuration.
type mixResult struct {
	samples         []memorySample
	peak, steady    float64 // RSS, MiB; steady is the median of the run's second half
	heapPeak        float64 // go_memstats_heap_inuse_bytes, MiB, read every second
	creates, gets   float64 // req/s
	generated, lost float64 // audit events, and those counted lost
}

// auditMix measures what auditing costs in memory under a sustained
// create/get mix (issue 30, item 1a): at each level to the log, to a slow
// batch webhook and to both, ours and kube-apiserver with the same flags,
// one after the other in each configuration; the memory over time of the
// runs to both is drawn in a PNG.
func auditMix(work string) {
	say("## What auditing costs in memory: a create/get mix (%d clients each, %d B pods, creates and gets each %s) for %s, to the log, to a slow batch webhook (%s a batch) and to both\n",
		*concurrency/2, *objectSize, offered(*auditMixRate), *auditMixFor, *auditMixLatency)
	if skippedWithoutKube() {
		return
	}
	snk, err := sink.Start(sink.Options{DiscardInMemory: true})
	check(err)
	defer snk.Close()
	snk.SetLatency(*auditMixLatency)
	webhook := webhookKubeconfig(work, snk)
	say("RSS of the API server process sampled every 100 ms (ours with its embedded etcd, kube-apiserver without its etcd):")
	say("its peak and its steady level (median of the run's second half), the Go heap in use at its peak")
	say("(`go_memstats_heap_inuse_bytes`, read every second), and what the configuration adds to the peak over None on the same")
	say("server. The webhook is the library's batch backend with its default settings; its receiver answers each batch after")
	say("%s. Events counted lost: `apiserver_audit_error_total`.\n", *auditMixLatency)
	say("| level | to | ours: peak RSS (steady), heap | adds | creates/s, gets/s | kube-apiserver: peak RSS (steady), heap | adds | creates/s, gets/s | ours adds / kube's | events lost (ours, kube) |")
	say("|---|---|---|---|---|---|---|---|---|---|")
	type config struct{ level, to string }
	configs := []config{{"None", "-"}}
	for _, level := range []string{"Metadata", "Request", "RequestResponse"} {
		for _, to := range []string{"log", "webhook", "both"} {
			configs = append(configs, config{level, to})
		}
	}
	var oursNone, kubeNone mixResult
	plotted := map[string][2]mixResult{}
	for i, c := range configs {
		var flags []string
		if c.level != "None" {
			flags = append(flags, "--audit-policy-file="+policyFile(work, c.level))
		}
		if c.to == "log" || c.to == "both" {
			flags = append(flags, "--audit-log-path="+filepath.Join(work, fmt.Sprintf("auditmix-%d.log", i)))
		}
		if c.to == "webhook" || c.to == "both" {
			flags = append(flags, "--audit-webhook-config-file="+webhook)
		}
		dir := filepath.Join(work, fmt.Sprintf("auditmix-ours-%d", i))
		s, _ := start(dir, flags...)
		ours := mixRun(s.client, s.PID())
		s.stop()
		kdir := filepath.Join(work, fmt.Sprintf("auditmix-kube-%d", i))
		kubeFiles(kdir)
		k, _, _ := startKube(kdir, flags...)
		theirs := mixRun(k.client(), k.Cmd.Process.Pid)
		k.stop()
		for _, d := range []string{dir, kdir} {
			check(os.RemoveAll(d))
		}
		_ = os.Remove(filepath.Join(work, fmt.Sprintf("auditmix-%d.log", i)))
		if c.level == "None" {
			oursNone, kubeNone = ours, theirs
			plotted["None"] = [2]mixResult{ours, theirs}
		} else if c.to == "both" {
			plotted[c.level] = [2]mixResult{ours, theirs}
		}
		added := func(r, none mixResult) string {
			if c.level == "None" {
				return "-"
			}
			return fmt.Sprintf("%+.0f MiB", r.peak-none.peak)
		}
		ratio := "-"
		if c.level != "None" && theirs.peak-kubeNone.peak > 50 {
			ratio = fmt.Sprintf("%.2f", (ours.peak-oursNone.peak)/(theirs.peak-kubeNone.peak))
		}
		say("| %s | %s | %.0f MiB (%.0f), %.0f MiB | %s | %.0f, %.0f | %.0f MiB (%.0f), %.0f MiB | %s | %.0f, %.0f | %s | %.0f, %.0f |",
			c.level, c.to, ours.peak, ours.steady, ours.heapPeak, added(ours, oursNone), ours.creates, ours.gets,
			theirs.peak, theirs.steady, theirs.heapPeak, added(theirs, kubeNone), theirs.creates, theirs.gets, ratio, ours.lost, theirs.lost)
	}
	say("")
	path := plotPath("audit-memory.png")
	check(plotMix(path, plotted))
	say("![RSS over time at each level, to the log and the slow webhook, ours and kube-apiserver's](images/%s)\n", filepath.Base(path))
	say("\"ours adds / kube's\" is given where kube-apiserver's level adds more than 50 MiB.\n")
}

// mixRun runs the create/get mix against a server and samples its memory.
func mixRun(c *kubernetes.Clientset, pid int) mixResult {
	ctx := context.Background()
	ensurePodNamespace(c, "load")
	var r mixResult
	stopSampling := sampleMemory(pid, 100*time.Millisecond, func() float64 {
		m, err := harness.ReadMetrics(ctx, c)
		if err != nil {
			return -1
		}
		return m.Value("go_memstats_heap_inuse_bytes") / (1 << 20)
	})
	var load sync.WaitGroup
	var creates, gets loadgen.Result
	var createErr, getErr error
	half := max(*concurrency/2, 1)
	load.Go(func() {
		creates, createErr = loadgen.Run(ctx, c, loadgen.Options{Op: "create", Concurrency: half, Duration: *auditMixFor, ObjectSize: *objectSize, Namespace: "load", Rate: *auditMixRate})
	})
	load.Go(func() {
		gets, getErr = loadgen.Run(ctx, c, loadgen.Options{Op: "get", Concurrency: half, Duration: *auditMixFor, ObjectSize: *objectSize, Namespace: "load", Pool: 100, Rate: *auditMixRate})
	})
	load.Wait()
	r.samples = stopSampling()
	check(createErr)
	check(getErr)
	m, err := harness.ReadMetrics(ctx, c)
	check(err)
	r.generated, r.lost = m.Value("apiserver_audit_event_total"), m.Value("apiserver_audit_error_total")
	r.creates, r.gets = creates.Rate(), gets.Rate()
	var second []float64
	for _, s := range r.samples {
		r.peak = max(r.peak, s.rss)
		r.heapPeak = max(r.heapPeak, s.heap)
		if s.at >= *auditMixFor/2 {
			second = append(second, s.rss)
		}
	}
	if len(second) > 0 {
		slices.Sort(second)
		r.steady = second[len(second)/2]
	}
	return r
}

// plotPath is where a figure of the report goes: beside the report's
// images when the whole report is written, in the temporary directory when
// a section runs alone (its figures are not the report's).
func plotPath(name string) string {
	if *sections == "all" {
		dir := filepath.Join(filepath.Dir(*out), "images")
		check(os.MkdirAll(dir, 0o755))
		return filepath.Join(dir, name)
	}
	return filepath.Join(os.TempDir(), "mini-bench-"+name)
}

// plotMix draws the RSS over time of each level's run, ours solid and
// kube-apiserver's dashed, one colour a level.
func plotMix(path string, runs map[string][2]mixResult) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("API server RSS under a create/get mix, audit to the log and a slow batch webhook (%s)", *auditMixFor)
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "RSS (MiB)"
	p.Legend.Top, p.Legend.Left = false, false
	colours := map[string]color.RGBA{"None": {90, 90, 90, 255}, "Metadata": {31, 119, 180, 255}, "Request": {44, 160, 44, 255}, "RequestResponse": {214, 39, 40, 255}}
	for _, level := range []string{"None", "Metadata", "Request", "RequestResponse"} {
		pair, ok := runs[level]
		if !ok {
			continue
		}
		for i, who := range []string{"mini-apiserver", "kube-apiserver"} {
			pts := make(plotter.XYs, len(pair[i].samples))
			for j, s := range pair[i].samples {
				pts[j].X, pts[j].Y = s.at.Seconds(), s.rss
			}
			line, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			line.Color = colours[level]
			line.Width = vg.Points(1.5)
			if i == 1 {
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			p.Add(line)
			p.Legend.Add(who+", "+level, line)
		}
	}
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p.Save(10*vg.Inch, 6*vg.Inch, path)
}
