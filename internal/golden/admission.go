package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
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

// probeNamespace is where the scenario waits for its admission
// configurations to take effect: the policy records nothing there, so how
// many tries it took does not show in the trail.
const probeNamespace = "golden-probe"

// admissionHooks registers a mutating webhook (a JSON patch adding a
// label), a validating webhook (a warning and an audit annotation, a
// denial of a configmap with a "forbidden" key) and a
// ValidatingAdmissionPolicy (at most two keys, Deny and Audit, an audit
// annotation), all for configmaps labelled admission=true, and waits until
// each is enforced. It returns a function that removes them.
func admissionHooks(ctx context.Context, c kubernetes.Interface) (func(), error) {
	var validated atomic.Int64
	hook, err := harness.StartAdmissionWebhook(harness.AdmissionReviewHandler(func(r *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		if r.Kind.Kind != "ConfigMap" {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}
		var cm corev1.ConfigMap
		_ = json.Unmarshal(r.Object.Raw, &cm)
		if cm.Labels["stamped"] == "" {
			// The mutating webhook's call (only it sees an unstamped object).
			return &admissionv1.AdmissionResponse{Allowed: true, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch),
				Patch: []byte(`[{"op":"add","path":"/metadata/labels/stamped","value":"yes"}]`)}
		}
		validated.Add(1)
		if _, ok := cm.Data["forbidden"]; ok {
			return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Code: 403, Message: "the forbidden key is present"},
				AuditAnnotations: map[string]string{"verdict": "denied"}}
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{"configmap " + cm.Name + " was checked"},
			AuditAnnotations: map[string]string{"verdict": "allowed"}}
	}))
	if err != nil {
		return nil, err
	}
	cleanup := func() {
		bg := context.Background()
		_ = c.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(bg, "golden-stamp", metav1.DeleteOptions{})
		_ = c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(bg, "golden-check", metav1.DeleteOptions{})
		_ = c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(bg, "golden-max-keys", metav1.DeleteOptions{})
		_ = c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(bg, "golden-max-keys", metav1.DeleteOptions{})
		_ = c.CoreV1().Namespaces().Delete(bg, probeNamespace, metav1.DeleteOptions{})
		hook.Close()
	}
	selected := &metav1.LabelSelector{MatchLabels: map[string]string{"admission": "true"}}
	rules := []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}
	none := ptr.To(admissionregistrationv1.SideEffectClassNone)
	create := []func() error{
		func() error {
			_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probeNamespace}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: "golden-stamp"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "stamp.golden.example.com", ClientConfig: hook.ClientConfig("/stamp"),
					Rules: rules, ObjectSelector: selected, SideEffects: none, AdmissionReviewVersions: []string{"v1"}}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: "golden-check"},
				Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "check.golden.example.com", ClientConfig: hook.ClientConfig("/check"),
					Rules: rules, ObjectSelector: selected, SideEffects: none, AdmissionReviewVersions: []string{"v1"}}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "golden-max-keys"},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
					MatchConstraints: &admissionregistrationv1.MatchResources{ObjectSelector: selected, ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rules[0]}}},
					Validations:      []admissionregistrationv1.Validation{{Expression: "size(object.data) <= 2", Message: "at most two keys"}},
					AuditAnnotations: []admissionregistrationv1.AuditAnnotation{{Key: "keys", ValueExpression: "string(size(object.data))"}},
				},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "golden-max-keys"},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "golden-max-keys",
					ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit}},
			}, metav1.CreateOptions{})
			return err
		},
	}
	for _, f := range create {
		if err := f(); err != nil {
			cleanup()
			return nil, err
		}
	}
	// Enforced when a labelled probe comes back stamped and checked, and a
	// probe with three keys is refused.
	i := 0
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		i++
		before := validated.Load()
		cm, err := c.CoreV1().ConfigMaps(probeNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", i),
			Labels: map[string]string{"admission": "true"}}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
		if err != nil || cm.Labels["stamped"] != "yes" || validated.Load() == before {
			return false, nil
		}
		_, err = c.CoreV1().ConfigMaps(probeNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-big-%d", i),
			Labels: map[string]string{"admission": "true"}}, Data: map[string]string{"a": "1", "b": "2", "c": "3"}}, metav1.CreateOptions{})
		return err != nil, nil
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("admission configurations never enforced: %w", err)
	}
	return cleanup, nil
}
