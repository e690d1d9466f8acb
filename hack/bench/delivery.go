package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

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
