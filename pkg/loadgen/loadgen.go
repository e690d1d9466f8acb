// Package loadgen drives a Kubernetes API server with pod requests from
// concurrent workers over one HTTP/2 client and reports rate and latency.
package loadgen

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
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
	pods := client.CoreV1().Pods(opts.Namespace)
	if opts.Pool <= 0 {
		opts.Pool = 100
	}
	needPool := opts.Op == "get" || opts.Op == "update" || opts.Op == "delete" || opts.Op == "list" || opts.Op == "watch"
	if needPool {
		if err := EnsurePool(ctx, client, opts.Namespace, opts.Pool, opts.ObjectSize); err != nil {
			return Result{}, err
		}
	}
	var seq int64
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
			_, err := pods.Patch(ctx, name, types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"labels":{"seq":"%d"}}}`, i)), metav1.PatchOptions{})
			return err
		case "delete":
			name := fmt.Sprintf("d-%s-%d", run, i)
			if _, err := pods.Create(ctx, Pod(opts.Namespace, name, opts.ObjectSize), metav1.CreateOptions{}); err != nil {
				return err
			}
			return pods.Delete(ctx, name, metav1.DeleteOptions{})
		case "watch":
			w, err := pods.Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1), LabelSelector: "app=loadgen"})
			if err != nil {
				return err
			}
			w.Stop()
			return nil
		}
		return fmt.Errorf("unknown op %q (want one of %s)", opts.Op, strings.Join(Ops, ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
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
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		r.P50, r.P99 = latencies[n/2], latencies[n*99/100]
	}
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
