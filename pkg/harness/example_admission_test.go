package harness_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// Register a test's mutating webhook (an HTTPS server with a CA of its own,
// in this process) and read what the audit trail says it did: at Request
// level, that it mutated the configmap, and with what patch.
func Example_admissionWebhook() {
	ctx := context.Background()
	hook, err := harness.StartAdmissionWebhook(harness.AdmissionReviewHandler(func(r *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch),
			Patch: []byte(`[{"op":"add","path":"/data/stamped","value":"yes"}]`)}
	}))
	if err != nil {
		panic(err)
	}
	defer hook.Close()
	srv, err := harness.Start(ctx, harness.Options{
		Policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n  resources: [{group: \"\", resources: [configmaps]}]\n",
	})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	_, err = client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "stamp"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "stamp.example.com", ClientConfig: hook.ClientConfig("/stamp"),
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		panic(err)
	}
	// The configuration takes effect once the server's informer has it.
	var cm *corev1.ConfigMap
	for i := 0; cm == nil || cm.Data["stamped"] != "yes"; i++ {
		if i == 500 {
			panic("the webhook was never called")
		}
		time.Sleep(10 * time.Millisecond)
		cm, err = client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("settings-%d", i)}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{})
		if err != nil {
			panic(err)
		}
	}

	events, err := srv.AuditEvents()
	if err != nil {
		panic(err)
	}
	for _, e := range events {
		if e.Verb != "create" || e.ObjectRef.Name != cm.Name || e.Stage != "ResponseComplete" {
			continue
		}
		var keys []string
		for k := range e.Annotations {
			if strings.Contains(k, "webhook.admission.k8s.io/") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("%s: %s\n", k, e.Annotations[k])
		}
	}
	// Output:
	// mutation.webhook.admission.k8s.io/round_0_index_0: {"configuration":"stamp","webhook":"stamp.example.com","mutated":true}
	// patch.webhook.admission.k8s.io/round_0_index_0: {"configuration":"stamp","webhook":"stamp.example.com","patch":[{"op":"add","path":"/data/stamped","value":"yes"}],"patchType":"JSONPatch"}
}
