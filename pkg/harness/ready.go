package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// waitReady polls /readyz with the admin kubeconfig until it answers 200,
// run stops, or timeout passes. A kubeconfig left by an earlier run on the
// same data directory names another port: it is not used until the server
// has rewritten it.
func waitReady(ctx context.Context, timeout time.Duration, kubeconfig string, port int, run instance) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var client *kubernetes.Clientset
	lastErr := fmt.Errorf("no admin kubeconfig for port %d at %s yet", port, kubeconfig)
	err := wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-run.done():
			return false, fmt.Errorf("mini-apiserver stopped while starting: %v", run.err())
		default:
		}
		if client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return false, nil
			}
			if u, err := url.Parse(cfg.Host); err != nil || u.Port() != strconv.Itoa(port) {
				return false, nil
			}
			if client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
		}
		code := readyzStatus(ctx, client)
		lastErr = fmt.Errorf("/readyz answered %d", code)
		return code == http.StatusOK, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("not ready after %s: %v", timeout, lastErr)
	}
	return err
}

// ReadyStatus is the HTTP status /readyz answers now (0 when it does not
// answer at all).
func (s *Server) ReadyStatus(ctx context.Context) int {
	client, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		return 0
	}
	return readyzStatus(ctx, client)
}

// readyzTimeout outlasts the server's etcd readiness check (the library's
// --etcd-readycheck-timeout, 2s). With etcd gone the check blocks that long
// once a second and answers the others at once with its last error; a
// client that gave up sooner would take the one blocking probe every
// second and never see the 500.
const readyzTimeout = 5 * time.Second

func readyzStatus(ctx context.Context, client kubernetes.Interface) int {
	var code int
	client.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(readyzTimeout).Do(ctx).StatusCode(&code)
	return code
}
