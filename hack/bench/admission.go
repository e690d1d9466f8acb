package main

import (
	"context"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// podCreates is the admission rule of the benchmark's webhook and policy.
var podCreates = admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
	Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}

// startBenchWebhook serves a mutating webhook that labels every pod.
func startBenchWebhook() *harness.AdmissionWebhook {
	hook, err := harness.StartAdmissionWebhook(harness.AdmissionReviewHandler(func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch),
			Patch: []byte(`[{"op":"add","path":"/metadata/annotations","value":{"bench-stamped":"yes"}}]`)}
	}))
	check(err)
	return hook
}

// registerBenchWebhook registers hook on each server and waits until a pod
// created there comes back stamped.
func registerBenchWebhook(hook *harness.AdmissionWebhook, clients ...*kubernetes.Clientset) {
	for _, c := range clients {
		_, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-stamp"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "stamp.bench.example.com", ClientConfig: hook.ClientConfig("/stamp"),
				Rules: []admissionregistrationv1.RuleWithOperations{podCreates}, SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"}}},
		}, metav1.CreateOptions{})
		check(err)
		waitForAdmission(c, func(p *corev1.Pod, err error) bool { return err == nil && p.Annotations["bench-stamped"] == "yes" }, nil)
	}
}

// registerBenchPolicy registers a policy refusing pods labelled bench-deny
// on each server and waits until one is refused.
func registerBenchPolicy(clients ...*kubernetes.Clientset) {
	for _, c := range clients {
		_, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(context.Background(), &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-deny"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: podCreates}}},
				Validations:      []admissionregistrationv1.Validation{{Expression: `!has(object.metadata.labels) || !('bench-deny' in object.metadata.labels)`}},
			},
		}, metav1.CreateOptions{})
		check(err)
		_, err = c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(context.Background(), &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-deny"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "bench-deny",
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
		}, metav1.CreateOptions{})
		check(err)
		waitForAdmission(c, func(_ *corev1.Pod, err error) bool { return err != nil }, map[string]string{"bench-deny": "1"})
	}
}

// waitForAdmission creates probe pods until enforced says the
// configuration took effect.
func waitForAdmission(c *kubernetes.Clientset, enforced func(*corev1.Pod, error) bool, labels map[string]string) {
	check(wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("load").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		return enforced(p, err), nil
	}))
}
