package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startup measures exec to the first 200 on /readyz, and idle memory, for
// mini-apiserver and, with -kube-apiserver, for kube-apiserver + etcd in the
// same run, interleaved run by run so both see the same machine.
func startup(work string) {
	kube := haveKube()
	say("## Start-up (exec to the first 200 on /readyz, polled every 5 ms with the admin credential)\n")
	var fresh, existing, inproc, kFresh, kExisting, kEtcd []time.Duration
	for i := 0; i < *runs; i++ {
		s, d := start(filepath.Join(work, fmt.Sprintf("fresh-%d", i)))
		fresh = append(fresh, d)
		s.stop()
		if kube {
			k, d, e := startKube(filepath.Join(work, fmt.Sprintf("kube-fresh-%d", i)))
			kFresh, kEtcd = append(kFresh, d), append(kEtcd, e)
			k.stop()
		}
	}
	dir, kdir := filepath.Join(work, "existing"), filepath.Join(work, "kube-existing")
	s, _ := start(dir)
	s.stop()
	if kube {
		k, _, _ := startKube(kdir)
		k.stop()
	}
	for i := 0; i < *runs; i++ {
		s, d := start(dir)
		existing = append(existing, d)
		s.stop()
		if kube {
			k, d, e := startKube(kdir)
			kExisting, kEtcd = append(kExisting, d), append(kEtcd, e)
			k.stop()
		}
	}
	// envtest's flow: a server, then CRDs installed, Established and in
	// discovery. Ours in process (harness.Options.CRDs), kube's as envtest
	// runs it (etcd, then kube-apiserver, then the CRDs), interleaved.
	// A process's first harness.Start bootstraps the data directory the
	// later ones copy (one for each set of flags that shape what is
	// stored: another --etcd-prefix each run makes each a first).
	var withCRDs, kWithCRDs, first, backToBack []time.Duration
	h, err := harness.Start(context.Background(), harness.Options{}) // the template the measured starts copy
	check(err)
	check(h.Stop())
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		h, err = harness.Start(context.Background(), harness.Options{Flags: []string{fmt.Sprintf("--etcd-prefix=/first-%d", i)}})
		check(err)
		first = append(first, time.Since(t0))
		check(h.Stop())
		// Settled: the previous server's garbage collected first, as a
		// test process's first server finds it; back to back: started as
		// the previous one stopped, as a suite's next test.
		for j := 0; j < 2*harnessStarts; j++ {
			settled := j < harnessStarts
			if settled {
				runtime.GC()
			}
			t0 = time.Now()
			h, err = harness.Start(context.Background(), harness.Options{})
			check(err)
			if settled {
				inproc = append(inproc, time.Since(t0))
			} else {
				backToBack = append(backToBack, time.Since(t0))
			}
			check(h.Stop())
		}
		t0 = time.Now()
		h, err = harness.Start(context.Background(), harness.Options{CRDs: &harness.CRDInstallOptions{CRDs: benchCRDs()}})
		check(err)
		withCRDs = append(withCRDs, time.Since(t0))
		check(h.Stop())
		if kube {
			t0 = time.Now()
			k, _, _ := startKube(filepath.Join(work, fmt.Sprintf("kube-crds-%d", i)))
			check(harness.InstallCRDs(context.Background(), kubeConfig(k), &harness.CRDInstallOptions{CRDs: benchCRDs()}))
			kWithCRDs = append(kWithCRDs, time.Since(t0))
			k.stop()
		}
	}
	if !kube {
		say("| case | median (range) over %d runs |", *runs)
		say("|---|---|")
		say("| binary, fresh data dir (embedded etcd, certificates generated) | %s |", stats(fresh))
		say("| binary, existing data dir | %s |", stats(existing))
		say("| in-process harness (`harness.Start`, %d starts, each in a settled process) | %s |", len(inproc), stats(inproc))
		say("| in-process harness, %d starts back to back (each as the one before stopped) | %s |", len(backToBack), stats(backToBack))
		say("| the first `harness.Start` of a process (bootstraps the data directory the later ones copy) | %s |", stats(first))
		say("| in-process harness with %d CRDs installed (envtest's flow) | %s |", len(benchCRDs()), stats(withCRDs))
		say("\nkube-apiserver was not measured (no -kube-apiserver binary; `make kube-apiserver` builds it).\n")
		return
	}
	say("kube-apiserver %s runs with etcd from `bin/etcd` (started first, then kube-apiserver on it, as a control plane", *kubeBin)
	say("does; its time includes etcd's: median %d ms to serve), default flags but a token file, service account keys and", median(kEtcd).Milliseconds())
	say("loopback addresses. Medians (range) over %d interleaved runs; the ratio is kube-apiserver + etcd over mini-apiserver.\n", *runs)
	say("| case | mini-apiserver | kube-apiserver + etcd | ratio |")
	say("|---|---|---|---|")
	say("| fresh data dir (certificates generated) | %s | %s | %.1fx |", stats(fresh), stats(kFresh), ratioDur(kFresh, fresh))
	say("| existing data dir | %s | %s | %.1fx |", stats(existing), stats(kExisting), ratioDur(kExisting, existing))
	say("| in-process harness (`harness.Start`, %d starts, each in a settled process; kube's: envtest's flow, etcd and kube-apiserver on a new data dir) | %s | %s | %.1fx |",
		len(inproc), stats(inproc), stats(kFresh), ratioDur(kFresh, inproc))
	say("| in-process harness, %d starts back to back (each as the one before stopped) | %s | %s | %.1fx |",
		len(backToBack), stats(backToBack), stats(kFresh), ratioDur(kFresh, backToBack))
	say("| the first `harness.Start` of a process (bootstraps the data directory the later ones copy) | %s | | |", stats(first))
	say("| envtest's flow: a server and %d CRDs Established and in discovery (ours: the in-process harness) | %s | %s | %.1fx |",
		len(benchCRDs()), stats(withCRDs), stats(kWithCRDs), ratioDur(kWithCRDs, withCRDs))
	say("")

	// Idle memory 10 s after ready, and the CPU each side used idle in
	// those 10 s, one of each side by side.
	s, _ = start(dir)
	k, _, _ := startKube(kdir)
	kubeCPU := func() float64 { return processCPU(k.Cmd.Process.Pid) + processCPU(k.Etcd.PID()) }
	ourCPU0, kubeCPU0 := processCPU(s.PID()), kubeCPU()
	time.Sleep(10 * time.Second) // the figure is idle RSS 10 s after ready, not a condition
	ourIdle, kubeIdle := (processCPU(s.PID())-ourCPU0)/10*100, (kubeCPU()-kubeCPU0)/10*100
	ours, theirs := rssMiB(s.PID()), k.rss()
	apiOnly := rssMiB(k.Cmd.Process.Pid)
	anon := func(pid int) float64 { return procStatusMiB(pid, "RssAnon") }
	ourAnon, theirAnon := anon(s.PID()), anon(k.Cmd.Process.Pid)+anon(k.Etcd.PID())
	s.stop()
	k.stop()
	say("| idle, existing data dir, 10 s after ready | mini-apiserver (embedded etcd included) | kube-apiserver + etcd | ratio |")
	say("|---|---|---|---|")
	say("| RSS | %.0f MiB | %.0f MiB (kube-apiserver %.0f, etcd %.0f) | %.1fx |", ours, theirs, apiOnly, theirs-apiOnly, theirs/ours)
	say("| of which anonymous (heap, stacks: `RssAnon`) | %.0f MiB | %.0f MiB | %.1fx |", ourAnon, theirAnon, theirAnon/ourAnon)
	say("| of which the binaries' pages (`RssFile`) | %.0f MiB | %.0f MiB | %.1fx |", ours-ourAnon, theirs-theirAnon, (theirs-theirAnon)/(ours-ourAnon))
	say("| CPU used idle over those 10 s (utime+stime, %% of one core) | %.1f%% | %.1f%% | %.1fx |", ourIdle, kubeIdle, kubeIdle/ourIdle)
	say("")
}

// harnessStarts is how many in-process starts each run measures: a
// harness start is short and its spread wide.
const harnessStarts = 3

// ratioDur is median(a) over median(b).
func ratioDur(a, b []time.Duration) float64 {
	return float64(median(a)) / float64(median(b))
}

// benchCRDs are five CRDs of a typical operator's size: a structural
// schema with a few fields, status and scale subresources.
func benchCRDs() []*apiextensionsv1.CustomResourceDefinition {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, kind := range []string{"Widget", "Gadget", "Sprocket", "Gizmo", "Doohickey"} {
		plural := strings.ToLower(kind) + "s"
		crds = append(crds, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: plural + ".bench.example.com"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "bench.example.com", Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, Plural: plural},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"replicas": {Type: "integer"}, "image": {Type: "string"}, "labels": {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}}}},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}, "ready": {Type: "boolean"}}},
					}}},
					Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
						Scale: &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas"}}}}}})
	}
	return crds
}
