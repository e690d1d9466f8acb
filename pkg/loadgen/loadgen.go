// Package loadgen drives a Kubernetes API server with pod requests from
// concurrent workers over one HTTP/2 client and reports rate and latency.
package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// Ops the generator knows.
var Ops = []string{"create", "get", "list", "update", "delete", "watch"}

// Options of a run.
type Options struct {
	Op          string
	Concurrency int
	Duration    time.Duration
	ObjectSize  int // bytes of annotation padding per pod
	Namespace   string
	// Pool is how many pods get, update and delete cycle over (created first).
	Pool int
	// Rate caps the requests per second of all workers together; 0 is as
	// fast as the workers go.
	Rate float64
}

// Result of a run.
type Result struct {
	Op               string
	Requests, Errors int64
	Elapsed          time.Duration
	P50, P99         time.Duration
	FirstError       string
}

// Rate is successful requests per second.
func (r Result) Rate() float64 { return float64(r.Requests-r.Errors) / r.Elapsed.Seconds() }

func (r Result) String() string {
	s := fmt.Sprintf("%-7s %8.0f req/s  p50 %7s  p99 %7s  requests %d  errors %d", r.Op, r.Rate(),
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Requests, r.Errors)
	if r.FirstError != "" {
		s += "  (first error: " + r.FirstError + ")"
	}
	return s
}

// Client returns an unthrottled clientset for cfg.
func Client(cfg *rest.Config) (*kubernetes.Clientset, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	c.RateLimiter = nil
	return kubernetes.NewForConfig(c)
}

// Pod returns a pod of about size bytes.
func Pod(ns, name string, size int) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "loadgen"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if size > 0 {
		p.Annotations = map[string]string{"padding": strings.Repeat("x", size)}
	}
	return p
}

// Run executes one run of opts.Op.
func Run(ctx context.Context, client kubernetes.Interface, opts Options) (Result, error) {
	if opts.Concurrency <= 0 || opts.Duration <= 0 {
		return Result{}, fmt.Errorf("concurrency and duration must be positive")
	}
	if !slices.Contains(Ops, opts.Op) {
		return Result{}, fmt.Errorf("unknown op %q (want one of %s)", opts.Op, strings.Join(Ops, ", "))
	}
	pods := client.CoreV1().Pods(opts.Namespace)
	if opts.Pool <= 0 {
		opts.Pool = 100
	}
	// create and delete make pods of their own.
	if opts.Op != "create" && opts.Op != "delete" {
		if err := EnsurePool(ctx, client, opts.Namespace, opts.Pool, opts.ObjectSize); err != nil {
			return Result{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	limiter := rate.NewLimiter(rate.Inf, 0)
	if opts.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
	if opts.Op == "watch" {
		return watchFanOut(ctx, pods, opts, limiter)
	}
	var seq int64
	var stored sync.Map // name -> *corev1.Pod, for update
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1000000)
	do := func(ctx context.Context) error {
		i := atomic.AddInt64(&seq, 1)
		name := fmt.Sprintf("pool-%05d", i%int64(opts.Pool))
		switch opts.Op {
		case "create":
			_, err := pods.Create(ctx, Pod(opts.Namespace, fmt.Sprintf("c-%s-%d", run, i), opts.ObjectSize), metav1.CreateOptions{})
			return err
		case "get":
			_, err := pods.Get(ctx, name, metav1.GetOptions{})
			return err
		case "list":
			_, err := pods.List(ctx, metav1.ListOptions{Limit: 50})
			return err
		case "update":
			// A PUT of the stored pod without its resourceVersion (pods allow
			// unconditional updates); the pod is read once per name, so that
			// each request is one update.
			cached, ok := stored.Load(name)
			if !ok {
				pod, err := pods.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				pod.ResourceVersion = ""
				cached, _ = stored.LoadOrStore(name, pod)
			}
			pod := cached.(*corev1.Pod).DeepCopy()
			pod.Labels["seq"] = strconv.FormatInt(i, 10)
			_, err := pods.Update(ctx, pod, metav1.UpdateOptions{})
			return err
		default: // delete
			name := fmt.Sprintf("d-%s-%d", run, i)
			if _, err := pods.Create(ctx, Pod(opts.Namespace, name, opts.ObjectSize), metav1.CreateOptions{}); err != nil {
				return err
			}
			return pods.Delete(ctx, name, metav1.DeleteOptions{})
		}
	}
	var mu sync.Mutex
	var latencies []time.Duration
	var requests, errors int64
	var firstErr string
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < opts.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				if limiter.Wait(ctx) != nil {
					break
				}
				t0 := time.Now()
				err := do(context.Background())
				local = append(local, time.Since(t0))
				atomic.AddInt64(&requests, 1)
				if err != nil {
					atomic.AddInt64(&errors, 1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := Result{Op: opts.Op, Requests: requests, Errors: errors, Elapsed: time.Since(start), FirstError: firstErr}
	r.setPercentiles(latencies)
	return r, nil
}

func (r *Result) setPercentiles(latencies []time.Duration) {
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		r.P50, r.P99 = latencies[n/2], latencies[n*99/100]
	}
}

// sentAnnotation carries a write's send time to the watchers.
const sentAnnotation = "loadgen/sent"

// watchFanOut holds opts.Concurrency watches on the pool while two writers
// patch pool pods as fast as they go (or at opts.Rate), each patch stamped
// with its send time. A request here is one event received by one watcher;
// latency is from the write's send to that receipt. Every watcher must see
// every acknowledged write: an event that never arrives counts as an error.
func watchFanOut(ctx context.Context, pods typedcorev1.PodInterface, opts Options, limiter *rate.Limiter) (Result, error) {
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=loadgen", Limit: 1})
	if err != nil {
		return Result{}, err
	}
	var watchers []watch.Interface
	defer func() {
		for _, w := range watchers {
			w.Stop()
		}
	}()
	for range opts.Concurrency {
		w, err := pods.Watch(context.Background(), metav1.ListOptions{LabelSelector: "app=loadgen", ResourceVersion: list.ResourceVersion})
		if err != nil {
			return Result{}, fmt.Errorf("watch: %w", err)
		}
		watchers = append(watchers, w)
	}
	var mu sync.Mutex
	var latencies []time.Duration
	var received, writes, errors int64
	var firstErr string
	fail := func(err error) {
		atomic.AddInt64(&errors, 1)
		mu.Lock()
		defer mu.Unlock()
		if firstErr == "" {
			firstErr = err.Error()
		}
	}
	var readers sync.WaitGroup
	var lastEvent atomic.Int64
	for _, w := range watchers {
		readers.Add(1)
		go func() {
			defer readers.Done()
			local := make([]time.Duration, 0, 4096)
			for ev := range w.ResultChan() {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type != watch.Modified {
					continue
				}
				sent, err := strconv.ParseInt(pod.Annotations[sentAnnotation], 10, 64)
				if err != nil {
					continue
				}
				now := time.Now()
				local = append(local, now.Sub(time.Unix(0, sent)))
				atomic.AddInt64(&received, 1)
				lastEvent.Store(now.UnixNano())
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	start := time.Now()
	var seq int64
	var writers sync.WaitGroup
	for range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for limiter.Wait(ctx) == nil {
				i := atomic.AddInt64(&seq, 1)
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, sentAnnotation, time.Now().UnixNano())
				if _, err := pods.Patch(context.Background(), fmt.Sprintf("pool-%05d", i%int64(opts.Pool)), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					fail(err)
					continue
				}
				atomic.AddInt64(&writes, 1)
			}
		}()
	}
	writers.Wait()
	want := atomic.LoadInt64(&writes) * int64(len(watchers))
	for deadline := time.Now().Add(10 * time.Second); atomic.LoadInt64(&received) < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range watchers {
		w.Stop()
	}
	readers.Wait()
	watchers = nil
	if missing := want - received; missing > 0 {
		fail(fmt.Errorf("%d of %d events never reached a watcher", missing, want))
		atomic.AddInt64(&errors, missing-1)
	}
	elapsed := time.Since(start)
	if last := lastEvent.Load(); last > 0 {
		elapsed = time.Unix(0, last).Sub(start)
	}
	r := Result{Op: opts.Op, Requests: received + errors, Errors: errors, Elapsed: elapsed, FirstError: firstErr}
	r.setPercentiles(latencies)
	return r, nil
}

// EnsurePool creates pool-00000.. pool-N if missing.
func EnsurePool(ctx context.Context, client kubernetes.Interface, ns string, n, size int) error {
	pods := client.CoreV1().Pods(ns)
	for i := 0; i < n; i++ {
		_, err := pods.Create(ctx, Pod(ns, fmt.Sprintf("pool-%05d", i), size), metav1.CreateOptions{})
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
	}
	return nil
}
