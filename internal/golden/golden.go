// Package golden is the scenario whose audit trail is compared with
// kube-apiserver's: one run of requests touching every resource of the core
// API (configmaps, secrets, events in both groups, leases, deployments and
// their scale and status, every pod subresource, bad input of each) and
// admission (a mutating and a validating webhook, a
// ValidatingAdmissionPolicy), made
// by `make golden` against kube-apiserver to record the trail in
// test/e2e/testdata, and by the e2e test against mini-apiserver to compare.
// Both trails are normalized: what differs between any two runs (IDs,
// times, resource versions, addresses, the client's user agent) is
// replaced, the rest must be equal.
package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// Namespace is where the scenario works.
const Namespace = "golden"

// Policy records the scenario at RequestResponse, secrets at Metadata (the
// classic rule), and nothing of other namespaces'.
const Policy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  resources: [{group: "", resources: ["secrets"]}]
- level: RequestResponse
  namespaces: ["` + Namespace + `"]
- level: None
`

// UserAgent is the scenario's client's, the same in both runs.
const UserAgent = "golden-scenario"

// Run makes the scenario's requests with cfg. Refusals are part of the
// scenario (the trail records them); an error is returned only for a step
// that must succeed for the next ones.
func Run(ctx context.Context, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = UserAgent
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := Namespace
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	// A new namespace's default ServiceAccount is kube-controller-manager's
	// work, which the recording of kube-apiserver has not: the scenario's
	// pod runs as its own service account.
	steps := []struct {
		name     string
		mustPass bool
		do       func() error
	}{
		{"configmap create", true, func() error {
			_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "fast"}}, metav1.CreateOptions{})
			return err
		}},
		{"configmap invalid key", false, func() error {
			_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Data: map[string]string{"a b": "1"}}, metav1.CreateOptions{})
			return err
		}},
		{"configmap over 1 MiB", false, func() error {
			_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": strings.Repeat("x", 1<<20), "b": "1"}}, metav1.CreateOptions{})
			return err
		}},
		{"configmap immutable", true, func() error {
			cm, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "frozen"}, Data: map[string]string{"k": "1"}, Immutable: ptr.To(true)}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			cm.Data["k"] = "2"
			_, _ = c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
			return nil
		}},
		{"configmap patch", false, func() error {
			_, err := c.CoreV1().ConfigMaps(ns).Patch(ctx, "settings", types.MergePatchType, []byte(`{"data":{"mode":"slow"}}`), metav1.PatchOptions{})
			return err
		}},
		{"secret create", true, func() error {
			_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{})
			return err
		}},
		{"secret malformed TLS", false, func() error {
			_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls"}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{corev1.TLSCertKey: []byte("not a certificate")}}, metav1.CreateOptions{})
			return err
		}},
		{"secret get", false, func() error {
			_, err := c.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
			return err
		}},
		{"serviceaccount", true, func() error {
			sa, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder",
				Annotations: map[string]string{"kubernetes.io/enforce-mountable-secrets": "true"}}, Secrets: []corev1.ObjectReference{{Name: "db", Namespace: ns, Kind: "Secret"}}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			_, _ = c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
			sa.Labels = map[string]string{"team": "ci"}
			_, err = c.CoreV1().ServiceAccounts(ns).Update(ctx, sa, metav1.UpdateOptions{})
			return err
		}},
		{"event core/v1", true, func() error {
			at := metav1.NewTime(time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC))
			_, err := c.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: ns, APIVersion: "v1"}, Reason: "Scheduled",
				Message: "Successfully assigned golden/web to node-1", Source: corev1.EventSource{Component: "default-scheduler"},
				FirstTimestamp: at, LastTimestamp: at, Count: 1, Type: corev1.EventTypeNormal}, metav1.CreateOptions{})
			return err
		}},
		{"event events.k8s.io/v1", true, func() error {
			_, err := c.EventsV1().Events(ns).Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.2"},
				EventTime: metav1.NewMicroTime(time.Date(2026, 12, 2, 19, 0, 1, 0, time.UTC)), ReportingController: "kubelet", ReportingInstance: "node-1",
				Action: "Pulling", Reason: "Pulling", Regarding: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: ns, APIVersion: "v1"},
				Note: "Pulling image busybox", Type: corev1.EventTypeNormal}, metav1.CreateOptions{})
			return err
		}},
		{"event invalid", false, func() error {
			_, err := c.EventsV1().Events(ns).Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
				EventTime: metav1.NewMicroTime(time.Date(2026, 12, 2, 19, 0, 1, 0, time.UTC)), Type: "Bad"}, metav1.CreateOptions{})
			return err
		}},
		{"events across groups", false, func() error {
			if _, err := c.CoreV1().Events(ns).Get(ctx, "web.2", metav1.GetOptions{}); err != nil {
				return err
			}
			_, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=web"})
			return err
		}},
		{"lease", true, func() error {
			l, err := c.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "leader"},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("a"), LeaseDurationSeconds: ptr.To[int32](15)}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			l.Spec.HolderIdentity = ptr.To("b")
			_, err = c.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{})
			return err
		}},
		{"deployment", true, func() error {
			_, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}}}, metav1.CreateOptions{})
			return err
		}},
		{"deployment scale", true, func() error {
			_, err := c.AppsV1().Deployments(ns).UpdateScale(ctx, "web", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}, metav1.UpdateOptions{})
			return err
		}},
		{"deployment scale below zero", false, func() error {
			_, err := c.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":-1}}`), metav1.PatchOptions{}, "scale")
			return err
		}},
		{"deployment status", false, func() error {
			d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: d.Generation}
			_, err = c.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		}},
		{"pod", true, func() error {
			_, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: corev1.PodSpec{ServiceAccountName: "builder", Containers: []corev1.Container{{Name: "web", Image: "busybox:1.36",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}, metav1.CreateOptions{})
			return err
		}},
		{"tokens", true, func() error {
			tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			bound, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web"}}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			_, _ = c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			_, _ = c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}}, metav1.CreateOptions{})
			for _, token := range []string{tr.Status.Token, bound.Status.Token} {
				tc := rest.CopyConfig(cfg)
				tc.BearerToken, tc.BearerTokenFile = token, ""
				tc.CertData, tc.KeyData, tc.CertFile, tc.KeyFile = nil, nil, "", ""
				as, err := kubernetes.NewForConfig(tc)
				if err != nil {
					return err
				}
				if _, err := as.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); err != nil {
					return err
				}
			}
			return nil
		}},
		{"pod log", false, func() error { return c.CoreV1().Pods(ns).GetLogs("web", &corev1.PodLogOptions{}).Do(ctx).Error() }},
		{"pod log invalid", false, func() error {
			return c.CoreV1().Pods(ns).GetLogs("web", &corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}).Do(ctx).Error()
		}},
		{"pod exec", false, func() error { return podPost(ctx, c, "web", "exec", "command", "ls", "stdout", "true") }},
		{"pod attach", false, func() error { return podPost(ctx, c, "web", "attach", "stdout", "true") }},
		{"pod portforward", false, func() error { return podPost(ctx, c, "web", "portforward", "ports", "80") }},
		{"pod proxy", false, func() error {
			return c.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/" + ns + "/pods/web/proxy/metrics").Do(ctx).Error()
		}},
		{"pod ephemeral container", false, func() error {
			p, err := c.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debugger", Image: "busybox:1.36", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
			_, err = c.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, "web", p, metav1.UpdateOptions{})
			return err
		}},
		{"pod resize", false, func() error {
			_, err := c.CoreV1().Pods(ns).Patch(ctx, "web", types.StrategicMergePatchType,
				[]byte(`{"spec":{"containers":[{"name":"web","resources":{"requests":{"cpu":"200m"}}}]}}`), metav1.PatchOptions{}, "resize")
			return err
		}},
		{"pod binding", false, func() error {
			return c.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, metav1.CreateOptions{})
		}},
		{"pod exec on a node", false, func() error { return podPost(ctx, c, "web", "exec", "command", "ls", "stdout", "true") }},
		{"eviction of a missing pod", false, func() error {
			return c.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "missing", Namespace: ns}})
		}},
		{"eviction", false, func() error {
			return c.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}})
		}},
		{"admission", true, func() error {
			cleanup, err := admissionHooks(ctx, c)
			if err != nil {
				return err
			}
			defer cleanup()
			labels := map[string]string{"admission": "true"}
			for _, cm := range []*corev1.ConfigMap{
				// mutated, then checked: the webhooks' and the policy's annotations
				{ObjectMeta: metav1.ObjectMeta{Name: "hooked", Labels: labels}, Data: map[string]string{"a": "1"}},
				// refused by the policy: 422 and validation_failure
				{ObjectMeta: metav1.ObjectMeta{Name: "three-keys", Labels: labels}, Data: map[string]string{"a": "1", "b": "2", "c": "3"}},
				// refused by the validating webhook: its code and message
				{ObjectMeta: metav1.ObjectMeta{Name: "forbidden", Labels: labels}, Data: map[string]string{"forbidden": "1"}},
			} {
				_, _ = c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
			}
			return nil
		}},
		{"custom resources", true, func() error { return widgetSteps(ctx, cfg, ns) }},
		{"deletes", false, func() error {
			_ = c.CoreV1().ConfigMaps(ns).Delete(ctx, "settings", metav1.DeleteOptions{})
			_ = c.CoreV1().Secrets(ns).Delete(ctx, "db", metav1.DeleteOptions{})
			_ = c.CoreV1().ServiceAccounts(ns).Delete(ctx, "builder", metav1.DeleteOptions{})
			return c.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{})
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil && s.mustPass {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func podPost(ctx context.Context, c kubernetes.Interface, name, sub string, params ...string) error {
	req := c.CoreV1().RESTClient().Post().Namespace(Namespace).Resource("pods").Name(name).SubResource(sub)
	for i := 0; i+1 < len(params); i += 2 {
		req = req.Param(params[i], params[i+1])
	}
	return req.Do(ctx).Error()
}

// Normalize returns the events of user, and of the scenario's service
// accounts, one JSON line each, with what differs between runs replaced by its name in
// angle brackets.
func Normalize(events []auditv1.Event, user string) ([]string, error) {
	var lines []string
	for i := range events {
		e := events[i]
		if e.User.Username != user && !strings.HasPrefix(e.User.Username, "system:serviceaccount:"+Namespace+":") {
			continue
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		var m map[string]interface{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		for _, k := range []string{"auditID", "requestReceivedTimestamp", "stageTimestamp", "sourceIPs"} {
			delete(m, k)
		}
		if u, ok := m["user"].(map[string]interface{}); ok {
			delete(u, "uid")
			if extra, ok := u["extra"].(map[string]interface{}); ok && extra["authentication.kubernetes.io/pod-uid"] != nil {
				extra["authentication.kubernetes.io/pod-uid"] = []string{"<uid>"}
			}
		}
		if a, ok := m["annotations"].(map[string]interface{}); ok {
			for k := range a {
				// Only a slow request has these (kube's latency tracker).
				if strings.HasPrefix(k, "apiserver.latency.k8s.io/") {
					delete(a, k)
				}
			}
		}
		scrub(m)
		// encoding/json writes map keys sorted: equal events, equal lines.
		line, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		lines = append(lines, string(line))
	}
	return lines, nil
}

// varying are the keys whose values differ between any two runs.
var varying = map[string]bool{"uid": true, "resourceVersion": true, "creationTimestamp": true, "deletionTimestamp": true,
	"time": true, "lastTransitionTime": true, "startTime": true, "continue": true, "token": true, "expirationTimestamp": true}

// jti is a token's credential ID (annotations, user.extra).
var jti = regexp.MustCompile(`^JTI=[0-9a-f-]{36}$`)

// tokenVolume is the ServiceAccount admission's volume, named at random.
var tokenVolume = regexp.MustCompile(`^kube-api-access-[a-z0-9]{5}$`)

func scrub(v interface{}) {
	switch v := v.(type) {
	case map[string]interface{}:
		for k, x := range v {
			if s, ok := x.(string); ok && jti.MatchString(s) {
				v[k] = "JTI=<jti>"
				continue
			}
			if s, ok := x.(string); ok && tokenVolume.MatchString(s) {
				v[k] = "kube-api-access-<random>"
				continue
			}
			if varying[k] {
				if s, ok := x.(string); ok && s != "" {
					v[k] = "<" + k + ">"
				}
				continue
			}
			scrub(x)
		}
	case []interface{}:
		for i, x := range v {
			if s, ok := x.(string); ok && jti.MatchString(s) {
				v[i] = "JTI=<jti>"
				continue
			}
			scrub(x)
		}
	}
}
