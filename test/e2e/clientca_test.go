package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// --client-ca-file is watched, as kube-apiserver watches it: a CA written
// into the file while the server runs is trusted without a restart.
func TestClientCAFileIsReloaded(t *testing.T) {
	t.Parallel()
	first, err := pki.NewCA("first-ca")
	if err != nil {
		t.Fatal(err)
	}
	second, err := pki.NewCA("second-ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, first.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--client-ca-file="+caFile, "--authorization-mode=AlwaysAllow")
	cred, err := pki.NewSigned(second, pki.ClientTemplate("dana", "team"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(s.RESTConfig())
	cfg.CertData, cfg.KeyData = cred.CertPEM, cred.KeyPEM
	dana, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	whoami := func() (string, error) {
		r, err := dana.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return r.Status.UserInfo.Username, nil
	}
	if _, err := whoami(); !apierrors.IsUnauthorized(err) {
		t.Fatalf("a certificate of a CA not in --client-ca-file: %v, want 401", err)
	}
	if err := os.WriteFile(caFile, append(append([]byte{}, first.CertPEM...), second.CertPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitShort, "the rewritten --client-ca-file to be trusted", func() (bool, error) {
		user, err := whoami()
		return user == "dana", err
	})
}
