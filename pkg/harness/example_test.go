package harness_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// Start a server that audits every request at Metadata level to its log
// and, synchronously, to a webhook sink; create a pod; check what was
// recorded.
func Example() {
	ctx := context.Background()
	srv, err := harness.Start(ctx, harness.Options{
		Policy:  "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
		Webhook: true,
		Flags:   []string{"--audit-webhook-mode=blocking"},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()

	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		panic(err)
	}

	report := expect.Check(srv.Sink().Events(), []expect.Event{{
		Level: auditv1.LevelMetadata, Stage: auditv1.StageRequestReceived, Verb: "create",
		RequestURI: "/api/v1/namespaces/default/pods", User: "kubernetes-admin",
		Resource: "pods", Namespace: "default",
	}})
	fmt.Println(report.OK())
	// Output: true
}
