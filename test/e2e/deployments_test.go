package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// TestDeployments: apps/v1 deployments with status and scale, kube's
// defaults, validation, columns and generation; the outputs and messages
// below were compared with kube-apiserver v1.37.2's for the same commands.
// No controller acts on them: status is what a client writes.
func TestDeployments(t *testing.T) {
	t.Parallel()
	log := t.TempDir() + "/audit.log"
	s := startServer(t, "--audit-policy-file="+writePolicy(t, `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse
  resources: [{group: apps, resources: ["deployments/scale"]}]
- level: Metadata
`), "--audit-log-path="+log)
	deployments := s.Client().AppsV1().Deployments("default")
	ctx := context.Background()

	s.Kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
	if out := s.Kubectl("get", "deploy", "-o", "wide"); !regexpMatch(`^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nweb\s+0/2\s+0\s+0\s+\S+\s+nginx\s+nginx:1.27\s+app=web\n$`, out) {
		t.Errorf("kubectl get deploy -o wide:\n%s", out)
	}
	d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Spec
	if *spec.RevisionHistoryLimit != 10 || *spec.ProgressDeadlineSeconds != 600 || spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" || spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" ||
		spec.Template.Spec.RestartPolicy != "Always" || spec.Template.Spec.SchedulerName != "default-scheduler" ||
		spec.Template.Spec.Containers[0].ImagePullPolicy != "IfNotPresent" || spec.Template.Spec.EnableServiceLinks != nil || d.Generation != 1 {
		t.Errorf("defaults: generation %d spec %+v", d.Generation, spec)
	}

	t.Run("scale", func(t *testing.T) {
		s.Kubectl("scale", "deployment", "web", "--replicas=5")
		scale, err := deployments.GetScale(ctx, "web", metav1.GetOptions{})
		if err != nil || scale.Spec.Replicas != 5 || scale.Status.Selector != "app=web" {
			t.Errorf("scale: %v %+v", err, scale)
		}
		r := s.KubectlEnv(nil, "", "patch", "deployment", "web", "--subresource=scale", "-p", `{"spec":{"replicas":-1}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, `The Scale "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`) {
			t.Errorf("scale below zero: %v\n%s", r.Err, r.Stderr)
		}
		_, err = deployments.UpdateScale(ctx, "web", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "other"}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}, metav1.UpdateOptions{})
		// kube's words exactly: the storage's precondition answers first.
		wantStatus(t, err, http.StatusConflict, `Operation cannot be fulfilled on deployments.apps "web": StorageError: invalid object, Code: 4, Key: /registry/deployments/default/web, `+
			`ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: other, UID in object meta: `+string(d.UID))
		if d, _ := deployments.Get(ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != 5 || d.Generation != 2 {
			t.Errorf("after scaling: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		r := s.KubectlEnv(nil, `apiVersion: apps/v1
kind: Deployment
metadata: {name: Bad_Name}
spec:
  selector: {matchLabels: {app: "x"}}
  template:
    metadata: {labels: {app: "z"}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
  strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 0}}
  progressDeadlineSeconds: 5
  minReadySeconds: 10
`, "create", "-f", "-")
		want := `The Deployment "Bad_Name" is invalid: 
* metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
* spec.template.metadata.labels: Invalid value: {"app":"z"}: ` + "`selector` does not match template `labels`" + `
* spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"
* spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when ` + "`maxSurge`" + ` is 0
* spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds
`
		if r.Err == nil || r.Stderr != want {
			t.Errorf("invalid deployment: %v\n%s\nwant\n%s", r.Err, r.Stderr, want)
		}
		r = s.KubectlEnv(nil, "", "patch", "deploy", "web", "-p", `{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, `The Deployment "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"other"}}: field is immutable`) {
			t.Errorf("selector change: %v\n%s", r.Err, r.Stderr)
		}
		r = s.KubectlEnv(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web.v2"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`, "create", "-f", "-")
		if r.Err != nil || !strings.Contains(r.Stderr, "Warning: metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]") {
			t.Errorf("dotted name: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("status is the status subresource's", func(t *testing.T) {
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Status = appsv1.DeploymentStatus{Replicas: 5, ReadyReplicas: 6}
		_, err = deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Deployment.apps "web" is invalid: status.readyReplicas: Invalid value: 6: cannot be greater than status.replicas`)
		d.Status = appsv1.DeploymentStatus{Replicas: 5, ReadyReplicas: 3, UpdatedReplicas: 5, AvailableReplicas: 3, ObservedGeneration: d.Generation}
		d.Spec.Replicas = new(int32) // ignored by the status subresource
		if _, err := deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if out := s.Kubectl("get", "deploy", "web"); !regexpMatch(`\nweb\s+3/5\s+5\s+3\s+\S+\n$`, out) {
			t.Errorf("kubectl get deploy after a status write:\n%s", out)
		}
		// A status write through the main resource is dropped.
		d, _ = deployments.Get(ctx, "web", metav1.GetOptions{})
		d.Status.ReadyReplicas = 0
		d, err = deployments.Update(ctx, d, metav1.UpdateOptions{})
		if err != nil || d.Status.ReadyReplicas != 3 || d.Generation != 2 {
			t.Errorf("status through the main resource: %v ready %d generation %d", err, d.Status.ReadyReplicas, d.Generation)
		}
	})

	waitForEvents(t, logReader(log), []expect.Event{
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "patch", Code: 200, User: "kubernetes-admin",
			Resource: "deployments", Subresource: "scale", Namespace: "default", Name: "web", RequestObject: true, ResponseObject: true,
			AuthorizeDecision: "allow", RequestURI: "/apis/apps/v1/namespaces/default/deployments/web/scale"},
		{Level: auditv1.LevelRequestResponse, Stage: auditv1.StageResponseComplete, Verb: "patch", Code: 422, User: "kubernetes-admin",
			Resource: "deployments", Subresource: "scale", Namespace: "default", Name: "web", RequestObject: true, ResponseObject: true,
			AuthorizeDecision: "allow", RequestURI: "/apis/apps/v1/namespaces/default/deployments/web/scale?fieldManager=kubectl-patch"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "update", Code: 200, User: "kubernetes-admin",
			Resource: "deployments", Subresource: "status", Namespace: "default", Name: "web",
			AuthorizeDecision: "allow", RequestURI: "/apis/apps/v1/namespaces/default/deployments/web/status"},
	})
}
