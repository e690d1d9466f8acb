package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// dynamicCost measures what the dynamic backend costs: the static log
// alone, the switches on with no sink (capture as the static policy says),
// and with 1 and 4 sinks (capture widened to RequestResponse for every
// request, each sink's policy enforced and batched). The sinks' throttle is
// raised so delivery is not what limits the rate; drops are reported.
func dynamicCost(work string) {
	say("## Dynamic audit sinks: capture cost (Metadata to the log as the static policy, concurrency %d, medians of %d interleaved rounds of %s)\n", *concurrency, *rounds, *duration)
	receiver, err := sink.Start(sink.Options{DiscardInMemory: true})
	check(err)
	defer receiver.Close()
	meta := policyFile(work, "Metadata")
	static := func(dir string) []string {
		return []string{"--audit-policy-file=" + meta, "--audit-log-path=" + filepath.Join(dir, "audit.log"), "--audit-log-maxsize=0"}
	}
	switches := []string{"--audit-dynamic-configuration", "--feature-gates=DynamicAuditing=true",
		"--runtime-config=auditregistration.k8s.io/v1alpha1=true", "--audit-dynamic-batch-max-wait=1s"}
	sinks := func(n int) func(*server) {
		return func(s *server) {
			client, err := s.AuditSinks()
			check(err)
			for i := range n {
				as := harness.NewAuditSink(fmt.Sprintf("bench-%d", i), receiver, nil, auditreg.LevelMetadata, auditreg.StageResponseComplete)
				qps, burst := int64(1000), int64(1000)
				as.Spec.Webhook.Throttle = &auditreg.WebhookThrottleConfig{QPS: &qps, Burst: &burst}
				_, err := client.Create(context.Background(), as)
				check(err)
			}
			// The receiver keeps nothing to wait on: the server's log says
			// when each sink runs.
			deadline := time.Now().Add(30 * time.Second)
			for i := 0; i < n; {
				if strings.Contains(s.Stderr(), fmt.Sprintf(`"Audit sink running" sink="bench-%d"`, i)) {
					i++
					continue
				}
				if time.Now().After(deadline) {
					check(fmt.Errorf("audit sink bench-%d not running after 30s", i))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	dir := func(i int) string { return filepath.Join(work, fmt.Sprintf("dynamic-%d", i)) }
	variants := []variant{
		{name: "audit off"},
		{name: "static only", args: static(dir(1))},
		{name: "static + dynamic, 0 sinks", args: append(static(dir(2)), switches...)},
		{name: "static + 1 sink", args: append(static(dir(3)), switches...), setup: sinks(1)},
		{name: "static + 4 sinks", args: append(static(dir(4)), switches...), setup: sinks(4)},
	}
	servers, rss := compareGetCreateKeep(work, "dynamic", "configuration", variants)
	var drops []string
	for i, s := range servers {
		drops = append(drops, fmt.Sprintf("%s %.0f", variants[i].name, s.metric("apiserver_audit_dynamic_dropped_events_total")))
		s.stop()
	}
	say("RSS after the rounds: audit off %.0f MiB, static only %.0f, 0 sinks %.0f, 1 sink %.0f, 4 sinks %.0f. Events the sinks dropped: %s.\n",
		rss[0], rss[1], rss[2], rss[3], rss[4], strings.Join(drops[2:], ", "))
}
