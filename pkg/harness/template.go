package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/controller/clusterroleaggregation"
	"github.com/mini-apiserver/mini-apiserver/pkg/server"
)

// A new data directory costs a start some 15 ms more than one already
// bootstrapped: the system namespaces and kube's bootstrap RBAC written,
// then the controllers' writes after ready (each namespace's default
// ServiceAccount and kube-root-ca.crt, the aggregated roles). An in-process
// server on a data directory of its own starts instead on a copy of one
// bootstrapped once per test process and set of storage-shaping flags: its
// etcd member's files (the WAL and the database, their zeroed tails left as
// holes) and the credentials the stored objects name (the root CA
// published in kube-root-ca.crt), so the servers of one process share a CA
// and keys as with CredentialsFrom; their data is their own.
//
// A copy's etcd member keeps the template's member and cluster IDs: etcd
// makes new ones only when a member is created from a snapshot
// (etcdutl snapshot restore), which writes a new WAL and database and
// costs what a new member does. Each copy is a single member on ports of
// its own that no other member dials, so the IDs never meet.
type dataDirTemplate struct {
	// mu is held through the bootstrap: the Starts that need the template
	// meanwhile wait for it. A bootstrap that failed is tried again by the
	// next Start.
	mu    sync.Mutex
	made  bool
	dirs  []string
	files []templateFile
}

type templateFile struct {
	rel  string
	mode fs.FileMode
	// data is the file up to its last non-zero byte; size its length, the
	// rest read back as zeros from a hole.
	data []byte
	size int64
}

var templates = struct {
	sync.Mutex
	byKey map[string]*dataDirTemplate
}{byKey: map[string]*dataDirTemplate{}}

// keyFlagsIgnored are flags that change nothing the bootstrap stores: a
// server started with other values of them starts on the same template.
var keyFlagsIgnored = []string{
	"data-dir", "audit-", "shutdown-", "secure-port", "bind-address", "admission-control",
	"enable-admission-plugins", "disable-admission-plugins", "token-auth-file", "request-timeout",
	"min-request-timeout", "max-requests-inflight", "max-mutating-requests-inflight", "watch-cache",
	"event-ttl", "goaway-chance", "profiling", "contention-profiling", "etcd-compaction-interval",
	"api-audiences", "service-account-issuer", "service-account-max-token-expiration",
	"service-account-extend-token-expiration", "anonymous-auth", "livez-grace-period", "v", "vmodule",
}

// templateFlags are the flags set that may change what the bootstrap
// stores: the template is made with them and used for servers with them.
func templateFlags(fs *pflag.FlagSet) []string {
	var key []string
	fs.Visit(func(f *pflag.Flag) {
		for _, ignored := range keyFlagsIgnored {
			if f.Name == ignored || strings.HasSuffix(ignored, "-") && strings.HasPrefix(f.Name, ignored) {
				return
			}
		}
		key = append(key, "--"+f.Name+"="+f.Value.String())
	})
	sort.Strings(key)
	return key
}

// copyTemplate fills dir, a new data directory, with the template for
// flags (templateFlags), bootstrapping it first when this process has none
// yet.
func copyTemplate(ctx context.Context, flags []string, dir string) error {
	key := strings.Join(flags, " ")
	templates.Lock()
	t := templates.byKey[key]
	if t == nil {
		t = &dataDirTemplate{}
		templates.byKey[key] = t
	}
	templates.Unlock()
	if err := t.make(ctx, flags); err != nil {
		return fmt.Errorf("harness: bootstrapping the data directory template: %w", err)
	}
	for _, rel := range t.dirs {
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o700); err != nil {
			return err
		}
	}
	for _, f := range t.files {
		if err := writeSparse(filepath.Join(dir, f.rel), f); err != nil {
			return fmt.Errorf("harness: copying the data directory template: %w", err)
		}
	}
	return nil
}

func writeSparse(path string, f templateFile) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
	if err != nil {
		return err
	}
	_, err = out.Write(f.data)
	if err == nil {
		err = out.Truncate(f.size)
	}
	return errors.Join(err, out.Close())
}

// make bootstraps the template unless it was. The bootstrap does not end
// with ctx: other Starts may be waiting for it.
func (t *dataDirTemplate) make(ctx context.Context, flags []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.made {
		return nil
	}
	t.dirs, t.files = nil, nil
	if err := t.bootstrap(context.WithoutCancel(ctx), flags); err != nil {
		return err
	}
	t.made = true
	return nil
}

// bootstrap starts a server with flags on a new directory, waits for it
// and its controllers to have written what a new data directory gets,
// stops it and keeps its files.
func (t *dataDirTemplate) bootstrap(ctx context.Context, flags []string) error {
	removeStaleTemplates()
	dir, err := os.MkdirTemp("", fmt.Sprintf("mini-apiserver-harness-template-%d-", os.Getpid()))
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// As Start's servers, so that the stop does not wait for the watches;
	// without the MutatingAdmissionPolicy plugin, whose first request
	// builds every OpenAPI document (80 ms of a core) as the controllers
	// the bootstrap waits for start.
	parsed, _, err := parseFlags(append(flags, "--data-dir="+dir, "--shutdown-watch-termination-grace-period="+watchTerminationGrace.String(),
		"--disable-admission-plugins=MutatingAdmissionPolicy"), false, false)
	if err != nil {
		return err
	}
	completed, err := completeInProcess(parsed)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	inst, err := server.Start(ctx, completed, server.WithListener(l), server.WithDisposableEtcd())
	if err != nil {
		return err
	}
	err = inst.WaitReady(ctx)
	if err == nil {
		err = waitBootstrapped(ctx, inst)
	}
	err = errors.Join(err, inst.Close())
	if err != nil {
		return err
	}
	return t.read(dir)
}

// waitBootstrapped waits for the controllers' writes after ready: every
// system namespace's default ServiceAccount and kube-root-ca.crt, and the
// aggregated ClusterRoles' rules.
func waitBootstrapped(ctx context.Context, inst *server.Instance) error {
	cfg := inst.RESTConfig()
	cfg.QPS, cfg.Burst = -1, 0
	// HTTP/1.1: the server's shutdown closes an idle connection at once,
	// where it waits a second for an HTTP/2 client to answer its GOAWAY.
	cfg.NextProtos = []string{"http/1.1"}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 5*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, ns := range server.SystemNamespaces {
			if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return false, nil
			} else if err != nil {
				return false, err
			}
			if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return false, nil
			} else if err != nil {
				return false, err
			}
		}
		roles, err := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return clusterroleaggregation.Settled(roles.Items)
	})
}

// read keeps the data directory's files but the admin kubeconfig (each
// start writes its own, with its port) and etcd's preallocated next WAL
// files (*.tmp, made again by each member).
func (t *dataDirTemplate) read(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() {
			t.dirs = append(t.dirs, rel)
			return nil
		}
		if rel == "admin.kubeconfig" || strings.HasSuffix(rel, ".tmp") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data = bytes.Clone(bytes.TrimRight(data, "\x00"))
		t.files = append(t.files, templateFile{rel: rel, mode: info.Mode().Perm(), data: data, size: info.Size()})
		return nil
	})
}

// removeStaleTemplates removes what a test process killed while it
// bootstrapped left behind.
func removeStaleTemplates() {
	stale, _ := filepath.Glob(filepath.Join(os.TempDir(), "mini-apiserver-harness-template-*-*"))
	for _, dir := range stale {
		pid, err := strconv.Atoi(strings.Split(strings.TrimPrefix(filepath.Base(dir), "mini-apiserver-harness-template-"), "-")[0])
		if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(dir)
		}
	}
}
