package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/mini-apiserver/mini-apiserver/internal/kubeapiserver"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/sink"
	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var kubeBin = flag.String("kube-apiserver", "", "a kube-apiserver binary (make kube-apiserver) measured side by side with etcd from -bin; empty: mini-apiserver alone")

// kubeToken is the admin's bearer token of the servers under test,
// editorToken a user's bound to a role in the load namespace.
const (
	kubeToken   = kubeapiserver.AdminToken
	editorToken = kubeapiserver.EditorToken
)

var cpuRate = flag.Float64("cpu-rate", 200, "creates per second at which the kube section measures server CPU per request, the same for every configuration")

// kube is kube-apiserver with its etcd, as a control plane runs them.
type kube struct{ *kubeapiserver.Server }

// haveKube says whether kube-apiserver is there to compare with.
func haveKube() bool {
	if *kubeBin == "" {
		return false
	}
	_, err := os.Stat(*kubeBin)
	return err == nil
}

// kubeFiles writes what kube-apiserver needs and does not generate: the
// service account key pair and a token file with an admin.
func kubeFiles(dir string) { check(kubeapiserver.WriteFiles(dir)) }

// startKube starts etcd on dir/etcd and then kube-apiserver on it (its
// serving certificate generated into dir/certs the first time), and returns
// once /readyz answers 200, with the time from etcd's exec to that 200 and
// the part of it etcd took to serve.
func startKube(dir string, args ...string) (*kube, time.Duration, time.Duration) {
	s, err := kubeapiserver.Start(kubeapiserver.Options{Binary: *kubeBin, EtcdBinary: filepath.Join(*binDir, "etcd"), Dir: dir, Args: args})
	check(err)
	return &kube{s}, s.Ready, s.EtcdReady
}

// url is kube-apiserver's address.
func (k *kube) url() string { return k.URL() }

func (k *kube) stop() { k.Stop() }

// rss is kube-apiserver's and etcd's resident memory together.
func (k *kube) rss() float64 { return rssMiB(k.Cmd.Process.Pid) + rssMiB(k.Etcd.PID()) }

// client is the load generator's client of kube-apiserver, as its admin.
func (k *kube) client() *kubernetes.Clientset {
	return tokenClient(k.url(), kubeToken)
}

// kubeConfig is how a client reaches kube-apiserver as its admin.
func kubeConfig(k *kube) *rest.Config {
	return &rest.Config{Host: k.url(), BearerToken: kubeToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

// tokenClient is the load generator's client of host with token.
func tokenClient(host, token string) *kubernetes.Clientset {
	c, err := loadgen.Client(&rest.Config{Host: host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	check(err)
	return c
}

// cpu is kube-apiserver's and etcd's CPU seconds together (mini-apiserver's
// process has its etcd inside).
func (k *kube) cpu() float64 { return processCPU(k.Cmd.Process.Pid) + processCPU(k.Etcd.PID()) }

// kubeThroughput measures get and create, and the server CPU per request,
// on mini-apiserver and kube-apiserver + etcd with the same audit flags,
// interleaved round by round.
func kubeThroughput(work string) {
	if !haveKube() {
		say("## Against kube-apiserver\n")
		skippedWithoutKube()
		return
	}
	snk, err := sink.Start(sink.Options{DiscardInMemory: true})
	check(err)
	defer snk.Close()
	configs := auditConfigs(work, snk)[:4] // the blocking webhook measures the receiver more than the server
	const rbacConfig = "RBAC, a user bound to a role (audit off)"
	configs = append(configs, config{rbacConfig, func(string) []string { return []string{"--authorization-mode=RBAC"} }})
	const saConfig = "service-account token (audit off)"
	configs = append(configs, config{saConfig, func(string) []string { return nil }})
	const webhookConfig = "a mutating webhook on the loopback (audit off)"
	const policyConfig = "a ValidatingAdmissionPolicy (audit off)"
	configs = append(configs, config{webhookConfig, func(string) []string { return nil }}, config{policyConfig, func(string) []string { return nil }})
	hook := startBenchWebhook()
	defer hook.Close()
	say("## Against kube-apiserver: throughput and server CPU with the same audit flags (concurrency %d, %d B pods, medians of %d interleaved rounds of %s)\n",
		*concurrency, *objectSize, *rounds, *duration)
	say("Both get the same flags for each configuration; kube-apiserver's CPU is its own and its etcd's (mini-apiserver's process")
	say("has its etcd inside). The load generator is the same client with the same bearer token (`--token-auth-file` on both),")
	say("as system:masters (exempt from priority and fairness), but for the RBAC row: a user bound to a role that may get, list and create pods in the namespace,")
	say("and the service-account row: a TokenRequest token of a service account of the namespace, each server's own.")
	say("The admission rows register, on both, a mutating webhook for pod creates (one HTTPS server in the benchmark's process")
	say("answering with a one-label JSON patch) or a ValidatingAdmissionPolicy and binding for pod creates (one CEL expression).\n")
	say("| configuration | get req/s mini | get req/s kube | ratio | create req/s mini | create req/s kube | ratio |")
	say("|---|---|---|---|---|---|---|")
	type cpuRow struct{ mini, kube float64 }
	var cpuRows []cpuRow
	for i, c := range configs {
		dir, kdir := filepath.Join(work, fmt.Sprintf("vs-mini-%d", i)), filepath.Join(work, fmt.Sprintf("vs-kube-%d", i))
		// The same credential on both: a bearer token from the same file
		// (the admin's client certificate would cost mini-apiserver a chain
		// verification per request that kube-apiserver's token does not).
		kubeFiles(kdir)
		mini := startLoaded(dir, variant{name: c.name, args: append(c.args(dir), "--token-auth-file="+filepath.Join(kdir, "tokens.csv"))})
		mini.client = tokenClient(mini.RESTConfig().Host, kubeToken)
		k, _, _ := startKube(kdir, c.args(kdir)...)
		kc := k.client()
		ensurePodNamespace(kc, "load")
		check(loadgen.EnsurePool(context.Background(), kc, "load", 100, *objectSize))
		if c.name == rbacConfig {
			// Not system:masters, which both servers let through before RBAC.
			// A role of its own: kube's edit is aggregated by
			// kube-controller-manager, which is not running here.
			for _, admin := range []*kubernetes.Clientset{mini.client, kc} {
				_, err := admin.RbacV1().Roles("load").Create(context.Background(), &rbacv1.Role{
					ObjectMeta: metav1.ObjectMeta{Name: "bench-pods"},
					Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "create"}}},
				}, metav1.CreateOptions{})
				check(err)
				_, err = admin.RbacV1().RoleBindings("load").Create(context.Background(), &rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "bench-editor"},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "bench-pods"},
					Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bench-editor"}},
				}, metav1.CreateOptions{})
				check(err)
			}
			mini.client = tokenClient(mini.RESTConfig().Host, editorToken)
			kc = tokenClient(k.url(), editorToken)
			// Each server's authorizer sees the binding when its informer does.
			for _, editor := range []*kubernetes.Clientset{mini.client, kc} {
				check(wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
					_, err := editor.CoreV1().Pods("load").List(ctx, metav1.ListOptions{Limit: 1})
					return err == nil, nil
				}))
			}
		}
		if c.name == saConfig {
			// A TokenRequest token of a service account instead of the
			// static token: the JWT check and the account's lookup on
			// every request, as kube does.
			for i, admin := range []*kubernetes.Clientset{mini.client, kc} {
				_, err := admin.CoreV1().ServiceAccounts("load").Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bench-sa"}}, metav1.CreateOptions{})
				check(err)
				tr, err := admin.CoreV1().ServiceAccounts("load").CreateToken(context.Background(), "bench-sa", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
				check(err)
				host := []string{mini.RESTConfig().Host, k.url()}[i]
				client := tokenClient(host, tr.Status.Token)
				check(wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
					_, err := client.CoreV1().Pods("load").List(ctx, metav1.ListOptions{Limit: 1})
					return err == nil, nil
				}))
				if i == 0 {
					mini.client = client
				} else {
					kc = client
				}
			}
		}
		switch c.name {
		case webhookConfig:
			registerBenchWebhook(hook, mini.client, kc)
		case policyConfig:
			registerBenchPolicy(mini.client, kc)
		}
		rates := map[string][2][]float64{}
		for _, op := range []string{"get", "create"} {
			var m, kr []float64
			for r := 0; r < *rounds; r++ {
				res, err := loadgen.Run(context.Background(), mini.client, loadgen.Options{Op: op, Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load"})
				check(err)
				m = append(m, res.Rate())
				res, err = loadgen.Run(context.Background(), kc, loadgen.Options{Op: op, Concurrency: *concurrency, Duration: *duration, ObjectSize: *objectSize, Namespace: "load"})
				check(err)
				kr = append(kr, res.Rate())
				fmt.Printf("  round %d %-32s %-6s mini %.0f/s kube %.0f/s\n", r+1, c.name, op, m[len(m)-1], kr[len(kr)-1])
			}
			rates[op] = [2][]float64{m, kr}
		}
		g, cr := rates["get"], rates["create"]
		say("| %s | %.0f | %.0f | %.1fx | %.0f | %.0f | %.1fx |", c.name, median(g[0]), median(g[1]), median(g[0])/median(g[1]),
			median(cr[0]), median(cr[1]), median(cr[0])/median(cr[1]))
		// Server CPU per create at one rate for every configuration and
		// both servers: what a configuration adds is then its own cost, not
		// a fixed cost spread over fewer or more requests.
		perRequest := func(cpu func() float64, client *kubernetes.Clientset) float64 {
			before := cpu()
			res, err := loadgen.Run(context.Background(), client, loadgen.Options{Op: "create", Concurrency: *concurrency, Duration: 2 * *duration, ObjectSize: *objectSize, Namespace: "load", Rate: *cpuRate})
			check(err)
			return (cpu() - before) / float64(res.Requests)
		}
		cpuRows = append(cpuRows, cpuRow{perRequest(func() float64 { return processCPU(mini.PID()) }, mini.client), perRequest(k.cpu, kc)})
		mini.stop()
		k.stop()
	}
	say("\nServer CPU per create at %.0f creates/s for %s, and what each configuration adds to audit off:\n", *cpuRate, 2**duration)
	say("| configuration | mini-apiserver | kube-apiserver + etcd | added, mini | added, kube |")
	say("|---|---|---|---|---|")
	for i, c := range configs {
		r := cpuRows[i]
		say("| %s | %.0f µs | %.0f µs | %+.0f µs | %+.0f µs |", c.name, r.mini*1e6, r.kube*1e6, (r.mini-cpuRows[0].mini)*1e6, (r.kube-cpuRows[0].kube)*1e6)
	}
	say("")
}

// skippedWithoutKube says that a section comparing with kube-apiserver is
// skipped when there is no kube-apiserver binary, and whether it is.
func skippedWithoutKube() bool {
	if haveKube() {
		return false
	}
	say("Skipped: no -kube-apiserver binary (`make kube-apiserver` builds it).\n")
	return true
}
