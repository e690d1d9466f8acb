package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// The first rules of audit-consuming security tools: who exec'd, attached
// or port-forwarded into a pod, with what command.
const podSubresourcesPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse
  resources: [{group: "", resources: ["pods/exec", "pods/attach", "pods/portforward"]}]
- level: Request
  resources: [{group: "", resources: ["pods/eviction", "pods/binding", "pods/ephemeralcontainers", "pods/resize"]}]
- level: Metadata
  resources: [{group: "", resources: ["pods/log", "pods/proxy"]}]
- level: None
`

// TestPodSubresources: every pod subresource kube serves, answered as
// kube-apiserver answers for a pod with no node (there are no kubelets),
// authorized (the WebSocket exec's second check for "create") and audited
// as kube does.
func TestPodSubresources(t *testing.T) {
	t.Parallel()
	log := t.TempDir() + "/audit.log"
	s := startServer(t, "--authorization-mode=Node,RBAC", "--audit-policy-file="+writePolicy(t, podSubresourcesPolicy), "--audit-log-path="+log)
	client := s.Client()
	pods := client.CoreV1().Pods("default")
	ctx := context.Background()
	for _, p := range []*corev1.Pod{newPod("default", "web"), twoContainerPod("two")} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	post := func(name, sub string, params ...string) error {
		req := client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(name).SubResource(sub)
		for i := 0; i+1 < len(params); i += 2 {
			req = req.Param(params[i], params[i+1])
		}
		return req.Do(ctx).Error()
	}

	t.Run("exec, attach and portforward on a pod with no node", func(t *testing.T) {
		r := s.KubectlEnv(nil, "", "exec", "web", "--", "ls", "/")
		if r.Err == nil || !strings.Contains(r.Stderr, "pod web does not have a host assigned") {
			t.Errorf("kubectl exec: %v\n%s", r.Err, r.Stderr)
		}
		r = s.KubectlEnv(nil, "", "attach", "web")
		if r.Err == nil || !strings.Contains(r.Stderr, "pod web does not have a host assigned") {
			t.Errorf("kubectl attach: %v\n%s", r.Err, r.Stderr)
		}
		wantStatus(t, post("web", "portforward", "ports", "80"), http.StatusBadRequest, "pod web does not have a host assigned")
		wantStatus(t, post("two", "exec", "command", "ls"), http.StatusBadRequest, "a container name must be specified for pod two, choose one of: [init a b]")
		wantStatus(t, post("web", "exec", "command", "ls", "container", "nope"), http.StatusBadRequest, "container nope is not valid for pod web")
		wantStatus(t, post("missing", "exec", "command", "ls"), http.StatusNotFound, `pods "missing" not found`)
	})

	t.Run("log and proxy", func(t *testing.T) {
		if out := s.Kubectl("logs", "web"); out != "" {
			t.Errorf("kubectl logs of a pod with no node: %q, want nothing", out)
		}
		logs := func(params ...string) error {
			req := client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web").SubResource("log")
			for i := 0; i+1 < len(params); i += 2 {
				req = req.Param(params[i], params[i+1])
			}
			return req.Do(ctx).Error()
		}
		wantStatus(t, logs("tailLines", "-1"), http.StatusUnprocessableEntity, `PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`)
		wantStatus(t, logs("sinceSeconds", "5", "sinceTime", "2026-01-01T00:00:00Z"), http.StatusUnprocessableEntity,
			"PodLogOptions \"web\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")
		wantStatus(t, logs("container", "nope"), http.StatusBadRequest, "container nope is not valid for pod web")
		err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/pods/web/proxy/metrics").Do(ctx).Error()
		wantStatus(t, err, http.StatusBadRequest, "address not allowed")
	})

	t.Run("a WebSocket exec also needs create", func(t *testing.T) {
		s.Kubectl("create", "role", "exec-get", "--verb=get", "--resource=pods,pods/exec")
		s.Kubectl("create", "rolebinding", "exec-get", "--role=exec-get", "--user=viewer")
		eventually(t, waitShort, "viewer's binding to reach the authorizer", func() (bool, error) {
			return strings.TrimSpace(s.KubectlEnv(nil, "", "auth", "can-i", "get", "pods", "--subresource=exec", "--as=viewer").Stdout) == "yes", nil
		})
		// kubectl tries a WebSocket (GET) first, then SPDY (POST): both refused.
		r := s.KubectlEnv(nil, "", "exec", "web", "--as=viewer", "--", "ls")
		if r.Err == nil || !strings.Contains(r.Stderr, `pods "web" is forbidden: User "viewer" cannot create resource "pods/exec" in API group "" in the namespace "default"`) {
			t.Errorf("kubectl exec --as=viewer: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("binding", func(t *testing.T) {
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Pod", Name: "node-1"}}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusInternalServerError, `target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"`)
		err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: types.UID("not-the-uid")}, Target: corev1.ObjectReference{Name: "node-1"}}, metav1.CreateOptions{})
		if !apierrors.IsConflict(err) {
			t.Errorf("binding with a stale uid: %v, want a conflict", err)
		}
		if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := pods.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "node-1" || len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Type != corev1.PodScheduled || p.Status.Conditions[0].Status != corev1.ConditionTrue {
			t.Errorf("bound pod: node %q conditions %+v", p.Spec.NodeName, p.Status.Conditions)
		}
		err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Name: "node-2"}}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusConflict, `Operation cannot be fulfilled on pods/binding "web": pod web is already assigned to node "node-1"`)
		// On a node: the kubelet's node is looked up, and there is none.
		wantStatus(t, post("web", "exec", "command", "ls"), http.StatusNotFound, `pods "node-1" not found`)
		err = client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web").SubResource("log").Do(ctx).Error()
		wantStatus(t, err, http.StatusNotFound, `pods "node-1" not found`)
	})

	t.Run("ephemeral containers", func(t *testing.T) {
		s.Kubectl("debug", "two", "--image=busybox:1.36", "--container=debugger", "--attach=false", "--target=a")
		p, err := pods.Get(ctx, "two", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].Name != "debugger" || p.Spec.EphemeralContainers[0].TargetContainerName != "a" ||
			p.Spec.EphemeralContainers[0].TerminationMessagePolicy != corev1.TerminationMessageReadFile || p.Generation != 2 {
			t.Errorf("after kubectl debug: generation %d ephemeral containers %+v", p.Generation, p.Spec.EphemeralContainers)
		}
		p.Spec.EphemeralContainers = nil
		_, err = pods.UpdateEphemeralContainers(ctx, "two", p, metav1.UpdateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Pod "two" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be removed`+"\n")
		p, _ = pods.Get(ctx, "two", metav1.GetOptions{})
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "a", Image: "busybox:1.36", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}})
		_, err = pods.UpdateEphemeralContainers(ctx, "two", p, metav1.UpdateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Pod "two" is invalid: [spec.ephemeralContainers[1].name: Duplicate value: "a", spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container]`)
	})

	t.Run("resize", func(t *testing.T) {
		s.Kubectl("patch", "pod", "two", "--subresource=resize", "-p", `{"spec":{"containers":[{"name":"a","image":"ignored:1","resources":{"requests":{"cpu":"200m"}}}]}}`)
		p, err := pods.Get(ctx, "two", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; got.Cmp(resource.MustParse("200m")) != 0 || p.Spec.Containers[0].Image != "busybox:1.36" || p.Generation != 3 {
			t.Errorf("after resize: cpu request %s image %q generation %d", &got, p.Spec.Containers[0].Image, p.Generation)
		}
		r := s.KubectlEnv(nil, "", "patch", "pod", "two", "--subresource=resize", "--type=json", "-p", `[{"op":"remove","path":"/spec/containers/0/resources/requests"}]`)
		if r.Err == nil || !strings.Contains(r.Stderr, `The Pod "two" is invalid: spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed`) {
			t.Errorf("resize removing requests: %v\n%s", r.Err, r.Stderr)
		}
		r = s.KubectlEnv(nil, "", "patch", "pod", "web", "--subresource=resize", "-p", `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, `The Pod "web" is invalid: spec: Invalid value: "BestEffort": Pod QOS Class may not change as a result of resizing`) {
			t.Errorf("resize changing QoS: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("eviction", func(t *testing.T) {
		evict := func(name, bodyName string) error {
			return pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: bodyName, Namespace: "default"}})
		}
		wantStatus(t, evict("missing", "missing"), http.StatusNotFound, `pods "missing" not found`)
		err := client.CoreV1().RESTClient().Post().AbsPath("/api/v1/namespaces/default/pods/two/eviction").
			Body([]byte(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web"}}`)).Do(ctx).Error()
		wantStatus(t, err, http.StatusBadRequest, "name in URL does not match name in Eviction object")
		// A pending pod on no node: deleted at once, no budget to check.
		if err := evict("two", "two"); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Get(ctx, "two", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("evicted pod two: %v, want not found", err)
		}
		// A pod on a node: marked DisruptionTarget, then deleted gracefully.
		if err := evict("web", "web"); err != nil {
			t.Fatal(err)
		}
		p, err := pods.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var disruption *corev1.PodCondition
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
				disruption = &p.Status.Conditions[i]
			}
		}
		if p.DeletionTimestamp == nil || disruption == nil || disruption.Reason != "EvictionByEvictionAPI" || disruption.Message != "Eviction API: evicting" {
			t.Errorf("evicted pod web: deletionTimestamp %v, DisruptionTarget %+v", p.DeletionTimestamp, disruption)
		}
	})

	events := waitForEvents(t, logReader(log), []expect.Event{
		// Streaming subresources are long-running: a ResponseStarted stage too.
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseStarted, Verb: "get", Code: 400, User: "kubernetes-admin",
			Resource: "pods", Subresource: "exec", Namespace: "default", Name: "web", AuthorizeDecision: "allow", ResponseObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/exec?command=ls&command=%2F&container=c&stderr=true&stdout=true"},
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "get", Code: 400, User: "kubernetes-admin",
			Resource: "pods", Subresource: "exec", Namespace: "default", Name: "web", AuthorizeDecision: "allow", ResponseObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/exec?command=ls&command=%2F&container=c&stderr=true&stdout=true"},
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 400, User: "kubernetes-admin",
			Resource: "pods", Subresource: "exec", Namespace: "default", Name: "web", AuthorizeDecision: "allow", ResponseObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/exec?command=ls&command=%2F&container=c&stderr=true&stdout=true"},
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 400, User: "kubernetes-admin",
			Resource: "pods", Subresource: "portforward", Namespace: "default", Name: "web", AuthorizeDecision: "allow", ResponseObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/portforward?ports=80"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "get", Code: 204, User: "kubernetes-admin",
			Resource: "pods", Subresource: "log", Namespace: "default", Name: "web", AuthorizeDecision: "allow",
			RequestURI: "/api/v1/namespaces/default/pods/web/log?container=c"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "get", Code: 400, User: "kubernetes-admin",
			Resource: "pods", Subresource: "proxy", Namespace: "default", Name: "web", AuthorizeDecision: "allow",
			RequestURI: "/api/v1/namespaces/default/pods/web/proxy/metrics"},
		// The WebSocket GET is allowed as get, refused by the check for create.
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "get", Code: 403, User: "kubernetes-admin", ImpersonatedUser: "viewer",
			Resource: "pods", Subresource: "exec", Namespace: "default", Name: "web", AuthorizeDecision: "allow", ResponseObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/exec?command=ls&container=c&stderr=true&stdout=true"},
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 403, User: "kubernetes-admin", ImpersonatedUser: "viewer",
			Resource: "pods", Subresource: "exec", Namespace: "default", Name: "web", AuthorizeDecision: "forbid", ResponseObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/exec?command=ls&container=c&stderr=true&stdout=true"},
		{Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 201, User: "kubernetes-admin",
			Resource: "pods", Subresource: "binding", Namespace: "default", Name: "web", AuthorizeDecision: "allow", RequestObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/web/binding"},
		{Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, Verb: "patch", Code: 200, User: "kubernetes-admin",
			Resource: "pods", Subresource: "ephemeralcontainers", Namespace: "default", Name: "two", AuthorizeDecision: "allow", RequestObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/two/ephemeralcontainers"},
		{Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, Verb: "patch", Code: 200, User: "kubernetes-admin",
			Resource: "pods", Subresource: "resize", Namespace: "default", Name: "two", AuthorizeDecision: "allow", RequestObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/two/resize?fieldManager=kubectl-patch"},
		{Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 201, User: "kubernetes-admin",
			Resource: "pods", Subresource: "eviction", Namespace: "default", Name: "two", AuthorizeDecision: "allow", RequestObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/two/eviction"},
		{Level: auditv1.LevelRequest, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 404, User: "kubernetes-admin",
			Resource: "pods", Subresource: "eviction", Namespace: "default", Name: "missing", AuthorizeDecision: "allow", RequestObject: true,
			RequestURI: "/api/v1/namespaces/default/pods/missing/eviction"},
	})
	// The eviction's request object is the policy/v1 Eviction it was sent;
	// the WebSocket exec's refusal has kube's message, with RBAC's empty reason.
	for _, e := range events {
		if e.ImpersonatedUser != nil && e.Verb == "get" && e.ResponseStatus.Code == 403 && e.ResponseStatus.Message != `pods "web" is forbidden: ` {
			t.Errorf("WebSocket exec refused with %q", e.ResponseStatus.Message)
		}
		if e.ObjectRef != nil && e.ObjectRef.Subresource == "eviction" && e.ObjectRef.Name == "two" && e.ResponseStatus.Code == 201 &&
			!strings.Contains(string(e.RequestObject.Raw), `"kind":"Eviction","apiVersion":"policy/v1"`) {
			t.Errorf("eviction request object: %s", e.RequestObject.Raw)
		}
	}
}

// twoContainerPod has an init container and two containers with requests,
// Burstable so that a resize can keep its QoS class.
func twoContainerPod(name string) *corev1.Pod {
	req := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Containers: []corev1.Container{
				{Name: "a", Image: "busybox:1.36", Resources: req},
				{Name: "b", Image: "busybox:1.36", Resources: req},
			},
		},
	}
}
