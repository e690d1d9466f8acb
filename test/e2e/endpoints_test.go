package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/util/version"
	apiversion "k8s.io/apimachinery/pkg/version"
)

func TestEndpoints(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	rc := s.Client().Discovery().RESTClient()
	ctx := context.Background()
	get := func(path string, accept string) (int, []byte) {
		t.Helper()
		req := rc.Get().AbsPath(path)
		if accept != "" {
			req = req.SetHeader("Accept", accept)
		}
		var code int
		body, _ := req.Do(ctx).StatusCode(&code).Raw()
		return code, body
	}

	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		if code, body := get(path, ""); code != http.StatusOK || string(body) != "ok" {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	if code, body := get("/readyz", "text/plain"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	verbose, _ := rc.Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(ctx)
	for _, check := range []string{"[+]etcd ok", "[+]poststarthook/bootstrap-namespaces ok", "[+]poststarthook/storage-readiness ok"} {
		if !strings.Contains(string(verbose), check) {
			t.Errorf("/readyz?verbose lacks %q:\n%s", check, verbose)
		}
	}

	code, body := get("/version", "")
	var info apiversion.Info
	if err := json.Unmarshal(body, &info); code != http.StatusOK || err != nil {
		t.Fatalf("/version: %d %v", code, err)
	}
	v, err := version.ParseSemantic(info.GitVersion)
	if err != nil || v.Major() != 1 || v.Minor() != 37 || info.Major != "1" || info.Minor != "37" {
		t.Errorf("/version %+v: %v", info, err)
	}

	if code, body := get("/metrics", ""); code != http.StatusOK || !strings.Contains(string(body), "apiserver_request_total") {
		t.Errorf("/metrics: %d", code)
	}
	if code, body := get("/api", ""); code != http.StatusOK || !strings.Contains(string(body), `"versions":["v1"]`) {
		t.Errorf("/api: %d %s", code, body)
	}
	if code, body := get("/api/v1", ""); code != http.StatusOK || !strings.Contains(string(body), `"name":"pods/status"`) || !strings.Contains(string(body), `"name":"namespaces/finalize"`) {
		t.Errorf("/api/v1: %d %s", code, body)
	}
	if code, _ := get("/apis", ""); code != http.StatusOK {
		t.Errorf("/apis: %d", code)
	}

	code, body = get("/api", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	var agg apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(body, &agg); code != http.StatusOK || err != nil || len(agg.Items) != 1 {
		t.Fatalf("aggregated discovery: %d %v %s", code, err, body)
	}
	resources := map[string]apidiscoveryv2.APIResourceDiscovery{}
	for _, r := range agg.Items[0].Versions[0].Resources {
		resources[r.Resource] = r
	}
	pods := resources["pods"]
	if pods.Scope != apidiscoveryv2.ScopeNamespace || len(pods.ShortNames) != 1 || pods.ShortNames[0] != "po" ||
		len(pods.Categories) != 1 || pods.Categories[0] != "all" {
		t.Errorf("pods discovery: %+v", pods)
	}
	// Every pod subresource kube-apiserver v1.37 serves, eviction's kind in policy/v1.
	var subresources []string
	for _, sub := range pods.Subresources {
		subresources = append(subresources, sub.Subresource+"="+sub.ResponseKind.Group+"/"+sub.ResponseKind.Kind+":"+strings.Join(sub.Verbs, ","))
	}
	if got, want := strings.Join(subresources, " "), "attach=/PodAttachOptions:create,get binding=/Binding:create ephemeralcontainers=/Pod:get,patch,update "+
		"eviction=policy/Eviction:create exec=/PodExecOptions:create,get log=/Pod:get portforward=/PodPortForwardOptions:create,get "+
		"proxy=/PodProxyOptions:create,delete,get,patch,update resize=/Pod:get,patch,update status=/Pod:get,patch,update"; got != want {
		t.Errorf("pods subresources:\n got %s\nwant %s", got, want)
	}
	if ns := resources["namespaces"]; ns.Scope != apidiscoveryv2.ScopeCluster || len(ns.ShortNames) != 1 || ns.ShortNames[0] != "ns" {
		t.Errorf("namespaces discovery: %+v", ns)
	}

	code, body = get("/openapi/v3", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"api/v1"`) {
		t.Errorf("/openapi/v3: %d %s", code, body)
	}
	code, body = get("/openapi/v3/api/v1", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"io.k8s.api.core.v1.Pod"`) {
		t.Errorf("/openapi/v3/api/v1: %d (%d bytes)", code, len(body))
	}
	// Each definition names its served kinds only, as kube's (no internal version).
	var v3 struct {
		Components struct {
			Schemas map[string]struct {
				GVK []map[string]string `json:"x-kubernetes-group-version-kind"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &v3); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"io.k8s.api.core.v1.Pod": `[{"group":"","kind":"Pod","version":"v1"}]`,
		"io.k8s.api.core.v1.Event": `[{"group":"","kind":"Event","version":"v1"}]`} {
		if got, _ := json.Marshal(v3.Components.Schemas[name].GVK); string(got) != want {
			t.Errorf("%s x-kubernetes-group-version-kind %s, want %s", name, got, want)
		}
	}
	if code, _ := get("/openapi/v2", ""); code != http.StatusOK {
		t.Errorf("/openapi/v2: %d", code)
	}

	t.Run("files", func(t *testing.T) {
		for path, mode := range map[string]os.FileMode{
			s.DataDir():    0o700,
			s.Kubeconfig(): 0o600,
			filepath.Join(s.DataDir(), "pki", "ca.key"):    0o600,
			filepath.Join(s.DataDir(), "pki", "admin.key"): 0o600,
		} {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != mode {
				t.Errorf("%s has mode %o, want %o", path, st.Mode().Perm(), mode)
			}
		}
		if want := "export KUBECONFIG=" + s.Kubeconfig() + "\n"; s.Stdout() != want {
			t.Errorf("stdout %q, want %q", s.Stdout(), want)
		}
		if !regexpMatch(`"ready in \d+ms"`, s.Stderr()) {
			t.Errorf("no \"ready in <ms>\" line in the log:\n%s", s.Stderr())
		}
	})
}

func TestKubeApiserverCommandLine(t *testing.T) {
	t.Parallel()
	// Flags of a kubeadm static-pod manifest that have no meaning here are
	// accepted and named in one warning; an admission plugin this server
	// does not have (kubeadm's NodeRestriction) in another.
	s := startServer(t,
		"--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
		"--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
		"--requestheader-group-headers=X-Remote-Group",
		"--authorization-mode=AlwaysAllow",
		"--max-requests-inflight=100",
	)
	want := "These kube-apiserver flags have no effect in mini-apiserver and are ignored: --allow-privileged, " +
		"--kubelet-client-certificate, --proxy-client-cert-file, --requestheader-group-headers, --service-cluster-ip-range"
	if n := strings.Count(s.Stderr(), "have no effect in mini-apiserver"); n != 1 || !strings.Contains(s.Stderr(), want) {
		t.Errorf("want one warning %q, log:\n%s", want, s.Stderr())
	}
	if !regexpMatch(`Admission plugins enabled that mini-apiserver does not have, which admit everything: LimitRanger, NodeRestriction, `, s.Stderr()) {
		t.Errorf("no warning naming NodeRestriction among the absent admission plugins, log:\n%s", s.Stderr())
	}
	s.Kubectl("get", "pods")
}

func TestHelp(t *testing.T) {
	t.Parallel()
	out := runStdout(t, "--help") // fails the test on a non-zero exit
	for _, section := range []string{"Generic flags:", "Etcd flags:", "Secure serving flags:", "Features flags:",
		"Auditing flags:", "Authentication flags:", "Authorization flags:", "Admission flags:", "Logs flags:", "Ignored kube-apiserver flags:", "Global flags:"} {
		if !strings.Contains(out, "\n"+section+"\n") {
			t.Errorf("--help lacks section %q", section)
		}
	}
	for _, flag := range []string{"--secure-port int", "--bind-address ip", "--cert-dir string", "--tls-cert-file string",
		"--tls-private-key-file string", "--data-dir string", "--etcd-servers strings", "--etcd-prefix string",
		"--etcd-cafile string", "--etcd-certfile string", "--etcd-keyfile string", "--feature-gates", "-v, --v Level", "--version[=true]",
		"--enable-admission-plugins strings", "--disable-admission-plugins strings", "--admission-control-config-file string"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help lacks %q", flag)
		}
	}
	if v := runStdout(t, "--version"); !regexpMatch(`^Kubernetes v1\.37\.\d+\n$`, v) {
		t.Errorf("--version: %q", v)
	}
}

// TestStartupTrace: at --v=2 the server logs, once ready, how long each
// phase of its start took, in order.
func TestStartupTrace(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--v=2")
	eventually(t, 10*time.Second, "the start-up trace in the log", func() (bool, error) {
		return strings.Contains(s.Stderr(), `"ready in `), nil
	})
	log := s.Stderr()
	if !regexpMatch(`"Start-up" sinceExec:\d+ms .*\(total time: \d+ms\)`, log) {
		t.Fatalf("no start-up trace in the log:\n%s", log)
	}
	at := 0
	for _, phase := range []string{"credentials loaded", "port bound", "embedded etcd starting", "admission", "storage (etcd ready)",
		"apiextensions-apiserver built", "API groups installed", "in-process informers synced", "ready"} {
		i := strings.Index(log[at:], fmt.Sprintf("---%q ", phase))
		if i < 0 {
			t.Fatalf("phase %q not in the trace after offset %d:\n%s", phase, at, log)
		}
		at += i
	}
}
