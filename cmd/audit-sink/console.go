package main

import (
	"fmt"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/console"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/policytool"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
)

// startConsole serves the live console for what the sink receives: every
// stored delivery goes into its store, every rejected body is counted.
func startConsole(opts *sink.Options, addr, policyPath, listen string) (*console.Console, error) {
	var policy *policytool.Policy
	if policyPath != "" {
		var err error
		if policy, err = policytool.Load(policyPath); err != nil {
			return nil, fmt.Errorf("--policy: %w", err)
		}
	}
	store := console.NewStore(0)
	opts.Observe = func(evs []auditv1.Event) { store.Add(evs...) }
	opts.Rejected = func(err error) { store.Problem("a delivery: " + err.Error()) }
	c, err := console.Start(store, console.Options{Addr: addr, Policy: policy, Source: "webhook deliveries to audit-sink on " + listen})
	if err != nil {
		return nil, fmt.Errorf("--console-address: %w", err)
	}
	return c, nil
}
