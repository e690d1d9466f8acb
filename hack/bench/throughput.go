package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

type config struct {
	name string
	args func(dir string) []string
}

// auditConfigs are the audit configurations measured against audit off
// (and against kube-apiserver with the same flags): the log at two levels,
// a batch and a blocking webhook to snk.
func auditConfigs(work string, snk *sink.Sink) []config {
	wh := webhookKubeconfig(work, snk)
	meta, rr := policyFile(work, "Metadata"), policyFile(work, "RequestResponse")
	return []config{
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
}

func throughput(work string) {
	snk, err := sink.Start(sink.Options{DiscardInMemory: true})
	check(err)
	defer snk.Close()
	configs := auditConfigs(work, snk)
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
		server0, self0 := processCPU(s.PID()), selfCPU()
		res, err := loadgen.Run(context.Background(), s.client, loadgen.Options{Op: op, Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load", Rate: rate})
		check(err)
		n := float64(res.Requests)
		server := (processCPU(s.PID()) - server0) / n
		self := (selfCPU() - self0) / n
		if i == 0 {
			base = server
		}
		say("| %s | %.0f µs | %.2f | %.0f µs |", configs[i].name, server*1e6, server/base, self*1e6)
	}
	say("")
}

// rbacCost compares RBAC with AlwaysAllow for a user who is not in
// system:masters (whose requests no authorizer after the privileged group
// sees): with RBAC the user is bound to "edit" in the namespace, so each
// request walks the bootstrap ClusterRoleBindings, then the namespace's
// RoleBindings.
func rbacCost(work string) {
	say("## Authorization: RBAC against AlwaysAllow (a user bound to `edit` in the namespace, audit off, concurrency %d, medians of %d interleaved rounds of %s)\n", *concurrency, *rounds, *duration)
	bind := func(s *server) {
		b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "loader", Namespace: "load"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "loader"}}}
		_, err := s.client.RbacV1().RoleBindings("load").Create(context.Background(), b, metav1.CreateOptions{})
		check(err)
	}
	compareGetCreate(work, "rbac", "`--authorization-mode`", []variant{
		{name: "AlwaysAllow", user: "loader"},
		{name: "RBAC", user: "loader", args: []string{"--authorization-mode=RBAC"}, setup: bind},
	})
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
	servers, rss := compareGetCreateKeep(work, prefix, what, variants)
	for _, s := range servers {
		s.stop()
	}
	return rss
}

// compareGetCreateKeep is compareGetCreate leaving the servers running for
// the caller to read and stop.
func compareGetCreateKeep(work, prefix, what string, variants []variant) ([]*server, []float64) {
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
		rss[i] = rssMiB(s.PID())
	}
	return servers, rss
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
