package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestServiceAccounts: core/v1 serviceaccounts as kubectl shows them, with
// kube's validation and its warning on the deprecated mountable-secrets
// annotation (the rest of the resource is compared with kube-apiserver's
// in TestGoldenAuditTrail).
func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.Kubectl("create", "serviceaccount", "builder")
	// default is the serviceaccount controller's, in every namespace, made
	// once the server is ready (as kube-controller-manager's).
	var out string
	eventually(t, waitShort, "kubectl get sa to list builder and default", func() (bool, error) {
		out = s.Kubectl("get", "sa")
		return regexpMatch(`^NAME\s+AGE\nbuilder\s+\S+\ndefault\s+\S+\n$`, out), nil
	})
	if stderr := s.KubectlFail("", "create", "sa", "Bad_Name"); !strings.Contains(stderr, `ServiceAccount "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain`) {
		t.Errorf("invalid name: %s", stderr)
	}
	r := s.KubectlEnv(nil, "", "annotate", "sa", "builder", "kubernetes.io/enforce-mountable-secrets=true")
	if r.Err != nil || !strings.Contains(r.Stderr, "Warning: metadata.annotations[kubernetes.io/enforce-mountable-secrets]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets") {
		t.Errorf("annotate: %v\n%s", r.Err, r.Stderr)
	}
}

// TestServiceAccountControllersAndAdmission: every namespace gets its
// default ServiceAccount and kube-root-ca.crt (recreated when deleted), and
// a new pod gets its account and kube-api-access-* volume as kube's
// ServiceAccount admission gives them.
func TestServiceAccountControllersAndAdmission(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx := context.Background()
	createNamespace(t, client, "team")
	eventually(t, waitShort, "the default ServiceAccount and kube-root-ca.crt in a new namespace", func() (bool, error) {
		_, errSA := client.CoreV1().ServiceAccounts("team").Get(ctx, "default", metav1.GetOptions{})
		cm, errCM := client.CoreV1().ConfigMaps("team").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return errSA == nil && errCM == nil && cm.Data["ca.crt"] == string(s.RESTConfig().CAData) &&
			strings.HasPrefix(cm.Annotations["kubernetes.io/description"], "Contains a CA bundle that can be used to verify the kube-apiserver"), nil
	})
	if err := client.CoreV1().ServiceAccounts("team").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitShort, "the default ServiceAccount to be recreated", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("team").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})

	pod, err := client.CoreV1().Pods("team").Create(ctx, newPod("team", "web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vols, mounts := pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts
	if pod.Spec.ServiceAccountName != "default" || len(vols) != 1 || !regexpMatch(`^kube-api-access-[a-z0-9]{5}$`, vols[0].Name) ||
		vols[0].Projected == nil || len(vols[0].Projected.Sources) != 3 || *vols[0].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
		len(mounts) != 1 || mounts[0].Name != vols[0].Name || mounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !mounts[0].ReadOnly {
		t.Errorf("admitted pod: account %q volumes %+v mounts %+v", pod.Spec.ServiceAccountName, vols, mounts)
	}
	noToken := newPod("team", "quiet")
	noToken.Spec.AutomountServiceAccountToken = ptr.To(false)
	if p, err := client.CoreV1().Pods("team").Create(ctx, noToken, metav1.CreateOptions{}); err != nil || len(p.Spec.Volumes) != 0 {
		t.Errorf("automountServiceAccountToken: false: %v %+v", err, p.Spec.Volumes)
	}
	missing := newPod("team", "ghost")
	missing.Spec.ServiceAccountName = "ghost"
	_, err = client.CoreV1().Pods("team").Create(ctx, missing, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusForbidden, `pods "ghost" is forbidden: error looking up service account team/ghost: serviceaccount "ghost" not found`)
}
