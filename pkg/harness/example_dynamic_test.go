package harness_test

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// Start a server with the dynamic audit backend, create an AuditSink that
// sends Metadata ResponseComplete events to a receiver, create a pod and see
// its event arrive (batches wait harness.DynamicAuditBatchWait, not 30s).
func Example_auditSink() {
	ctx := context.Background()
	srv, err := harness.Start(ctx, harness.Options{DynamicAudit: true})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	receiver, hook, err := harness.StartTLSReceiver(false)
	if err != nil {
		panic(err)
	}
	defer receiver.Close()

	sinks, err := srv.AuditSinks()
	if err != nil {
		panic(err)
	}
	created, err := sinks.Create(ctx, harness.NewAuditSink("metadata", receiver, hook.CAData, auditreg.LevelMetadata, auditreg.StageResponseComplete))
	if err != nil {
		panic(err)
	}
	fmt.Println("throttle defaulted:", *created.Spec.Webhook.Throttle.QPS, *created.Spec.Webhook.Throttle.Burst)
	if err := srv.WaitForAuditSink(ctx, receiver); err != nil {
		panic(err)
	}

	client := kubernetes.NewForConfigOrDie(srv.RESTConfig())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		panic(err)
	}
	err = receiver.WaitFor(ctx, func(evs []auditv1.Event) bool {
		return slices.ContainsFunc(evs, isPodCreate)
	})
	if err != nil {
		panic(err)
	}
	for _, e := range receiver.Events() {
		// The server's controllers create too (each namespace's default
		// ServiceAccount and kube-root-ca.crt): the pod's event is the one.
		if isPodCreate(e) {
			fmt.Println(e.Stage, e.Level, e.ObjectRef.Name, e.ResponseStatus.Code, e.RequestObject == nil)
		}
	}
	// Output:
	// throttle defaulted: 10 15
	// ResponseComplete Metadata web 201 true
}

func isPodCreate(e auditv1.Event) bool {
	return e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == "pods"
}
