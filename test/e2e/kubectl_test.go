package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels:
    app: web
    tier: front
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports:
    - containerPort: 80
`

func TestKubectlWorkflow(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx := context.Background()

	if got := s.Kubectl("create", "namespace", "shop"); got != "namespace/shop created\n" {
		t.Fatalf("create namespace: %q", got)
	}
	if got := s.Kubectl("create", "-f", writeFile(t, "pod.yaml", podYAML)); got != "pod/web created\n" {
		t.Fatalf("create -f: %q", got)
	}
	if got := s.Kubectl("run", "cache", "--image=redis", "-n", "shop", "--labels=app=cache,tier=back"); got != "pod/cache created\n" {
		t.Fatalf("run: %q", got)
	}

	t.Run("get table", func(t *testing.T) {
		out := s.Kubectl("get", "pods", "-n", "shop")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("want header and 2 rows, got:\n%s", out)
		}
		if !regexp.MustCompile(`^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$`).MatchString(lines[0]) {
			t.Errorf("header %q", lines[0])
		}
		if !regexp.MustCompile(`^cache\s+0/1\s+Pending\s+0\s+\d+s$`).MatchString(lines[1]) {
			t.Errorf("row %q", lines[1])
		}
		wide := strings.Split(s.Kubectl("get", "pods", "-n", "shop", "-o", "wide"), "\n")[0]
		if !regexp.MustCompile(`^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$`).MatchString(wide) {
			t.Errorf("wide header %q", wide)
		}
		ns := strings.Split(s.Kubectl("get", "ns"), "\n")[0]
		if !regexp.MustCompile(`^NAME\s+STATUS\s+AGE$`).MatchString(ns) {
			t.Errorf("namespace header %q", ns)
		}
	})

	t.Run("get output formats", func(t *testing.T) {
		var pod corev1.Pod
		if err := json.Unmarshal([]byte(s.Kubectl("get", "pod", "web", "-n", "shop", "-o", "json")), &pod); err != nil {
			t.Fatal(err)
		}
		// kube's defaults and admission additions, as a real cluster shows them.
		c := pod.Spec.Containers[0]
		checks := map[string][2]string{
			"imagePullPolicy":          {string(c.ImagePullPolicy), "IfNotPresent"},
			"terminationMessagePath":   {c.TerminationMessagePath, "/dev/termination-log"},
			"terminationMessagePolicy": {string(c.TerminationMessagePolicy), "File"},
			"port protocol":            {string(c.Ports[0].Protocol), "TCP"},
			"restartPolicy":            {string(pod.Spec.RestartPolicy), "Always"},
			"dnsPolicy":                {string(pod.Spec.DNSPolicy), "ClusterFirst"},
			"schedulerName":            {pod.Spec.SchedulerName, "default-scheduler"},
			"phase":                    {string(pod.Status.Phase), "Pending"},
			"qosClass":                 {string(pod.Status.QOSClass), "BestEffort"},
			"preemptionPolicy":         {string(*pod.Spec.PreemptionPolicy), "PreemptLowerPriority"},
		}
		for name, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s = %q, want %q", name, c[0], c[1])
			}
		}
		if *pod.Spec.TerminationGracePeriodSeconds != 30 || !*pod.Spec.EnableServiceLinks || *pod.Spec.Priority != 0 ||
			pod.Spec.SecurityContext == nil || len(pod.Spec.Tolerations) != 2 || pod.Generation != 1 {
			t.Errorf("defaults missing: %+v", pod.Spec)
		}
		if got := s.Kubectl("get", "pod", "cache", "-n", "shop", "-o", "jsonpath={.spec.containers[0].imagePullPolicy}"); got != "Always" {
			t.Errorf("untagged image pull policy %q, want Always", got)
		}
		y := s.Kubectl("get", "pod", "web", "-n", "shop", "-o", "yaml")
		for _, want := range []string{"apiVersion: v1\n", "kind: Pod\n", "  name: web\n", "  namespace: shop\n"} {
			if !strings.Contains(y, want) {
				t.Errorf("-o yaml lacks %q:\n%s", want, y)
			}
		}
	})

	t.Run("selectors", func(t *testing.T) {
		if got := s.Kubectl("get", "pods", "-A", "-o", "name"); got != "pod/cache\npod/web\n" {
			t.Errorf("get -A: %q", got)
		}
		if got := s.Kubectl("get", "pods", "-A", "--no-headers", "-o", "custom-columns=NS:.metadata.namespace,N:.metadata.name"); !regexp.MustCompile(`(?m)^shop\s+cache$`).MatchString(got) {
			t.Errorf("get -A columns: %q", got)
		}
		if got := s.Kubectl("get", "pods", "-n", "shop", "-l", "tier=front", "-o", "name"); got != "pod/web\n" {
			t.Errorf("-l: %q", got)
		}
		if got := s.Kubectl("get", "pods", "-n", "shop", "--field-selector", "metadata.name=cache", "-o", "name"); got != "pod/cache\n" {
			t.Errorf("--field-selector metadata.name: %q", got)
		}
		if got := s.Kubectl("get", "pods", "-A", "--field-selector", "status.phase=Pending,spec.nodeName=", "-o", "name"); got != "pod/cache\npod/web\n" {
			t.Errorf("--field-selector status.phase: %q", got)
		}
		if got := s.Kubectl("get", "pods", "-A", "--field-selector", "metadata.namespace=default", "-o", "name"); got != "" {
			t.Errorf("--field-selector metadata.namespace=default: %q", got)
		}
		stderr := s.KubectlFail("", "get", "pods", "-n", "shop", "--field-selector", "spec.bogus=x")
		if !strings.Contains(stderr, `field label not supported: spec.bogus`) {
			t.Errorf("unsupported field selector: %s", stderr)
		}
	})

	t.Run("apply client-side and server-side", func(t *testing.T) {
		f := writeFile(t, "applied.yaml", strings.ReplaceAll(podYAML, "name: web", "name: applied"))
		if got := s.Kubectl("apply", "-f", f); got != "pod/applied created\n" {
			t.Fatalf("apply: %q", got)
		}
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(strings.ReplaceAll(podYAML, "name: web", "name: applied"), "nginx:1.27", "nginx:1.28")), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := s.Kubectl("apply", "-f", f); got != "pod/applied configured\n" {
			t.Fatalf("apply again: %q", got)
		}
		pod, err := client.CoreV1().Pods("shop").Get(ctx, "applied", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.Containers[0].Image != "nginx:1.28" || pod.Generation != 2 {
			t.Errorf("after apply: image %s generation %d", pod.Spec.Containers[0].Image, pod.Generation)
		}
		if _, ok := pod.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; !ok {
			t.Errorf("no last-applied-configuration annotation")
		}

		ssa := writeFile(t, "ssa.yaml", strings.ReplaceAll(podYAML, "name: web", "name: ssa"))
		if got := s.Kubectl("apply", "--server-side", "--field-manager=alice", "-f", ssa); got != "pod/ssa serverside-applied\n" {
			t.Fatalf("server-side apply: %q", got)
		}
		changed := writeFile(t, "ssa2.yaml", strings.ReplaceAll(strings.ReplaceAll(podYAML, "name: web", "name: ssa"), "nginx:1.27", "nginx:1.29"))
		stderr := s.KubectlFail("", "apply", "--server-side", "--field-manager=bob", "-f", changed)
		if !strings.Contains(stderr, `Apply failed with 1 conflict: conflict with "alice": .spec.containers[name="nginx"].image`) {
			t.Errorf("conflict: %s", stderr)
		}
		if got := s.Kubectl("apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", changed); got != "pod/ssa serverside-applied\n" {
			t.Errorf("forced apply: %q", got)
		}
		if got := s.Kubectl("get", "pod", "ssa", "-n", "shop", "-o", "jsonpath={.spec.containers[0].image}"); got != "nginx:1.29" {
			t.Errorf("image after forced apply: %q", got)
		}
	})

	t.Run("patch label annotate replace edit", func(t *testing.T) {
		s.Kubectl("patch", "pod", "web", "-n", "shop", "-p", `{"metadata":{"labels":{"strategic":"yes"}}}`)
		s.Kubectl("patch", "pod", "web", "-n", "shop", "--type=merge", "-p", `{"metadata":{"labels":{"merge":"yes"}}}`)
		s.Kubectl("patch", "pod", "web", "-n", "shop", "--type=json", "-p", `[{"op":"add","path":"/metadata/labels/json","value":"yes"}]`)
		s.Kubectl("label", "pod", "web", "-n", "shop", "labelled=yes")
		s.Kubectl("annotate", "pod", "web", "-n", "shop", "note=hello")
		pod, err := client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"strategic", "merge", "json", "labelled"} {
			if pod.Labels[l] != "yes" {
				t.Errorf("label %s missing: %v", l, pod.Labels)
			}
		}
		if pod.Annotations["note"] != "hello" {
			t.Errorf("annotation missing: %v", pod.Annotations)
		}
		// A strategic-merge patch of the image: the one container field a pod update may change.
		s.Kubectl("patch", "pod", "web", "-n", "shop", "-p", `{"spec":{"containers":[{"name":"nginx","image":"nginx:1.30"}]}}`)

		out := s.Kubectl("get", "pod", "web", "-n", "shop", "-o", "yaml")
		replaced := strings.Replace(out, "nginx:1.30", "nginx:1.31", 1)
		if r := s.KubectlEnv(nil, replaced, "replace", "-f", "-"); r.Err != nil || r.Stdout != "pod/web replaced\n" {
			t.Fatalf("replace: %v %s %s", r.Err, r.Stdout, r.Stderr)
		}

		editor := writeFile(t, "editor.sh", "#!/bin/sh\nsed -i 's/nginx:1.31/nginx:1.32/' \"$1\"\n")
		if err := os.Chmod(editor, 0o755); err != nil {
			t.Fatal(err)
		}
		r := s.KubectlEnv([]string{"KUBE_EDITOR=" + editor}, "", "edit", "pod", "web", "-n", "shop")
		if r.Err != nil || r.Stdout != "pod/web edited\n" {
			t.Fatalf("edit: %v %q %s", r.Err, r.Stdout, r.Stderr)
		}
		pod, err = client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.Containers[0].Image != "nginx:1.32" || pod.Generation != 4 {
			t.Errorf("after edit: image %s generation %d (want nginx:1.32, 4)", pod.Spec.Containers[0].Image, pod.Generation)
		}
	})

	t.Run("watch", func(t *testing.T) {
		cmd := exec.Command(kubectlBin, "--kubeconfig="+s.Kubeconfig(), "get", "pods", "-n", "shop", "-w", "--output-watch-events",
			"--field-selector=metadata.name=watched", "--no-headers")
		out := &proc.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		// The watch is established once kubectl printed nothing but is
		// connected; a create before that is still seen as the initial list.
		s.Kubectl("run", "watched", "--image=nginx", "-n", "shop")
		eventually(t, 30*time.Second, "ADDED event", func() (bool, error) { return strings.Contains(out.String(), "ADDED"), nil })
		s.Kubectl("label", "pod", "watched", "-n", "shop", "seen=yes")
		eventually(t, 30*time.Second, "MODIFIED event", func() (bool, error) { return strings.Contains(out.String(), "MODIFIED"), nil })
		s.Kubectl("delete", "pod", "watched", "-n", "shop")
		eventually(t, 30*time.Second, "DELETED event", func() (bool, error) { return strings.Contains(out.String(), "DELETED"), nil })
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if !regexp.MustCompile(`^(ADDED|MODIFIED|DELETED)\s+watched\s`).MatchString(line) {
				t.Errorf("unexpected watch line %q", line)
			}
		}
	})

	t.Run("explain api-resources version describe", func(t *testing.T) {
		exp := s.Kubectl("explain", "pods.spec.containers")
		for _, want := range []string{"KIND:       Pod", "VERSION:    v1", "FIELD: containers <[]Container>", "image\t<string>"} {
			if !strings.Contains(exp, want) {
				t.Errorf("explain lacks %q:\n%s", want, exp)
			}
		}
		res := s.Kubectl("api-resources")
		if !regexp.MustCompile(`(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$`).MatchString(res) ||
			!regexp.MustCompile(`(?m)^pods\s+po\s+v1\s+true\s+Pod$`).MatchString(res) {
			t.Errorf("api-resources:\n%s", res)
		}
		ver := s.Kubectl("version")
		if !regexp.MustCompile(`(?m)^Server Version: v1\.37\.\d+`).MatchString(ver) {
			t.Errorf("version:\n%s", ver)
		}
		desc := s.Kubectl("describe", "pod", "web", "-n", "shop")
		for _, want := range []string{`(?m)^Name:\s+web$`, `(?m)^Namespace:\s+shop$`, `(?m)^Status:\s+Pending$`, `(?m)^QoS Class:\s+BestEffort$`, `(?m)^\s+Image:\s+nginx:1.32$`} {
			if !regexp.MustCompile(want).MatchString(desc) {
				t.Errorf("describe does not match %s:\n%s", want, desc)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if got := s.Kubectl("delete", "pod", "applied", "-n", "shop"); got != "pod \"applied\" deleted from shop namespace\n" {
			t.Errorf("delete: %q", got)
		}
		if got := s.Kubectl("delete", "pod", "ssa", "-n", "shop", "--cascade=orphan"); got != "pod \"ssa\" deleted from shop namespace\n" {
			t.Errorf("delete --cascade=orphan: %q", got)
		}
		for _, name := range []string{"applied", "ssa"} {
			if _, err := client.CoreV1().Pods("shop").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("pod %s after delete: %v", name, err)
			}
		}
	})
}
