package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/poll"
	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/kubernetes"
)

// parseOptions parses args with the server's flag set on a new data
// directory and completes and validates them.
func parseOptions(t *testing.T, args ...string) (CompletedOptions, error) {
	t.Helper()
	o := NewOptions()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	for _, f := range o.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(append([]string{"--data-dir=" + t.TempDir()}, args...)); err != nil {
		t.Fatal(err)
	}
	if err := compatibility.DefaultComponentGlobalsRegistry.Set(); err != nil {
		t.Fatal(err)
	}
	c, err := o.Complete()
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Validate()
}

// start starts an instance on a port of the kernel's choosing and waits for
// it to be ready.
func start(t *testing.T, o CompletedOptions, opts ...StartOption) *Instance {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inst, err := Start(ctx, o, append(opts, WithListener(l))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	if err := inst.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return inst
}

func servedGroups(t *testing.T, inst *Instance) []string {
	t.Helper()
	client, err := kubernetes.NewForConfig(inst.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	return names
}

// An Instance owns what it started: after Close the port and the data
// directory's etcd are free, and Close says the same however often it is
// called.
func TestInstanceCloseReleasesWhatItStarted(t *testing.T) {
	o, err := parseOptions(t)
	if err != nil {
		t.Fatal(err)
	}
	inst := start(t, o)
	if !strings.HasPrefix(inst.URL, "https://127.0.0.1:") || inst.Port == 0 || inst.KubeconfigPath == "" {
		t.Errorf("instance: URL %q, port %d, kubeconfig %q", inst.URL, inst.Port, inst.KubeconfigPath)
	}
	if got := servedGroups(t, inst); !slices.Equal(got, []string{"", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apps", "authentication.k8s.io", "authorization.k8s.io", "coordination.k8s.io", "events.k8s.io", "rbac.authorization.k8s.io"}) {
		t.Errorf("served groups %q, want the GA groups (alpha off)", got)
	}
	if inst.Err() != nil {
		t.Errorf("Err before Done: %v", inst.Err())
	}
	if !listening(t, inst.Port) {
		t.Errorf("port %d not seen listening before Close", inst.Port)
	}
	first := inst.Close()
	if again := inst.Close(); again != first {
		t.Errorf("second Close %v, first %v", again, first)
	}
	select {
	case <-inst.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if listening(t, inst.Port) {
		t.Fatalf("port %d still listened on after Close", inst.Port)
	}
	// The same options on the same data directory: the embedded etcd's
	// data directory was released.
	again := start(t, o)
	if err := again.Close(); err != nil {
		t.Errorf("restart on the same data directory ended with %v", err)
	}
}

// --runtime-config decides what is served, with the library's merge; what
// the server itself needs cannot be turned off; kube-apiserver's other
// groups are accepted.
func TestRuntimeConfig(t *testing.T) {
	o, err := parseOptions(t, "--runtime-config=authentication.k8s.io/v1=false,batch/v1=true")
	if err != nil {
		t.Fatal(err)
	}
	if got := ignoredRuntimeConfig(o.APIEnablement.RuntimeConfig); !slices.Equal(got, []string{"batch/v1"}) {
		t.Errorf("ignored keys %q, want [batch/v1]", got)
	}
	inst := start(t, o)
	if got := servedGroups(t, inst); slices.Contains(got, "authentication.k8s.io") {
		t.Errorf("authentication.k8s.io/v1=false still serves it: %q", got)
	}
	for _, tc := range []struct{ arg, want string }{
		{"--runtime-config=rbac.authorization.k8s.io/v1=false", "--runtime-config: rbac.authorization.k8s.io/v1/roles cannot be disabled"},
		{"--runtime-config=api/all=false", "--runtime-config: v1/namespaces cannot be disabled"},
		{"--runtime-config=authorization.k8s.io/v1=maybe", "--runtime-config: invalid value of authorization.k8s.io/v1: maybe"},
		{"--runtime-config=authorization.k8s.io/v9=true", "--runtime-config: group version authorization.k8s.io/v9 that has not been registered"},
	} {
		if _, err := parseOptions(t, tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.arg, err, tc.want)
		}
	}
}

// listening says whether this process has a socket listening on port. It
// asks the kernel rather than binding the port: with other tests running,
// another process's client may have been given the freed port as its own.
func listening(t *testing.T, port int) bool {
	t.Helper()
	ours := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:[") {
			ours[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port && ours[f[9]] {
				return true
			}
		}
	}
	return false
}

// Close returns once no OpenAPI document is being built: the
// MutatingAdmissionPolicy plugin asks for /openapi/v3 at ready, and a build
// that outlived the server would keep a core busy after Close returned.
func TestCloseWaitsForTheOpenAPIBuild(t *testing.T) {
	o, err := parseOptions(t)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		inst := start(t, o)
		if err := inst.Close(); err != nil {
			t.Fatal(err)
		}
		var stacks strings.Builder
		if err := pprof.Lookup("goroutine").WriteTo(&stacks, 1); err != nil {
			t.Fatal(err)
		}
		if s := stacks.String(); strings.Contains(s, "(*lazyOpenAPI).ServeHTTP") || strings.Contains(s, "kube-openapi/pkg/handler3.") {
			t.Fatalf("start %d: an OpenAPI document still being built after Close:\n%s", i, s)
		}
	}
}

// TestIdleMemoryReturnedAfterOpenAPIBuilds: with WithIdleMemoryReturned
// (the command's) the free heap is returned once after the first request
// for each OpenAPI document, which builds it; without it (a process that
// holds servers, a test's) never.
func TestIdleMemoryReturnedAfterOpenAPIBuilds(t *testing.T) {
	var returned atomic.Int32
	saved := freeOSMemory
	freeOSMemory = func() { returned.Add(1) }
	t.Cleanup(func() { freeOSMemory = saved })
	o, err := parseOptions(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []StartOption
		want int32
	}{
		{"the command", []StartOption{WithIdleMemoryReturned()}, 2},
		{"in process", nil, 0},
	} {
		returned.Store(0)
		inst := start(t, o, tc.opts...)
		client, err := kubernetes.NewForConfig(inst.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/openapi/v3", "/openapi/v3/apis/apps/v1", "/openapi/v2", "/openapi/v3", "/openapi/v2"} {
			if _, err := client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(context.Background()); err != nil {
				t.Fatalf("%s: GET %s: %v", tc.name, path, err)
			}
		}
		if tc.want > 0 {
			poll.Until(t, fmt.Sprintf("%s: the memory returned once a document", tc.name), func() bool { return returned.Load() >= tc.want })
		}
		if err := inst.Close(); err != nil {
			t.Fatal(err)
		}
		if got := returned.Load(); got != tc.want {
			t.Fatalf("%s: memory returned %d times, want %d", tc.name, got, tc.want)
		}
	}
}
