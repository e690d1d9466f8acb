// Command loadgen drives an API server with pod requests and prints the
// rate and latency: loadgen --kubeconfig K --op get --concurrency 8 --duration 10s.
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mini-apiserver/mini-apiserver/pkg/loadgen"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the server")
	var o loadgen.Options
	flag.StringVar(&o.Op, "op", "get", "operation: "+strings.Join(loadgen.Ops, ", "))
	flag.IntVar(&o.Concurrency, "concurrency", 8, "concurrent workers")
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	flag.IntVar(&o.ObjectSize, "object-size", 1024, "bytes of padding per pod")
	flag.StringVar(&o.Namespace, "namespace", "loadgen", "namespace (created if missing)")
	flag.IntVar(&o.Pool, "pool", 100, "pods get, update, list and watch work on")
	flag.Float64Var(&o.Rate, "rate", 0, "requests per second of all workers together (0: as fast as they go)")
	flag.Parse()
	if !slices.Contains(loadgen.Ops, o.Op) {
		fmt.Fprintf(os.Stderr, "loadgen: --op %q: want one of %s\n", o.Op, strings.Join(loadgen.Ops, ", "))
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: --kubeconfig: %v\n", err)
		os.Exit(2)
	}
	client, err := loadgen.Client(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
	ctx := context.Background()
	_, _ = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}, metav1.CreateOptions{})
	r, err := loadgen.Run(ctx, client, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(r)
	if r.Errors > 0 {
		os.Exit(1)
	}
}
