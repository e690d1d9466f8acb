package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// kubeadmPKI is /etc/kubernetes/pki as kubeadm lays it out, made here.
type kubeadmPKI struct {
	dir string
	ca  *pki.KeyPair
}

func (p *kubeadmPKI) path(name string) string { return filepath.Join(p.dir, name) }

// write writes name.crt and name.key.
func (p *kubeadmPKI) write(t *testing.T, name string, kp *pki.KeyPair) {
	t.Helper()
	mustDo(t, os.MkdirAll(filepath.Dir(p.path(name)), 0o700))
	mustDo(t, certutil.WriteCert(p.path(name+".crt"), kp.CertPEM))
	mustDo(t, keyutil.WriteKey(p.path(name+".key"), kp.KeyPEM))
}

func newKubeadmPKI(t *testing.T) *kubeadmPKI {
	t.Helper()
	p := &kubeadmPKI{dir: filepath.Join(t.TempDir(), "pki")}
	must := func(kp *pki.KeyPair, err error) *pki.KeyPair {
		t.Helper()
		mustDo(t, err)
		return kp
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	p.ca = must(pki.NewCA("kubernetes"))
	p.write(t, "ca", p.ca)
	p.write(t, "apiserver", must(pki.NewSigned(p.ca, pki.ServingTemplate("kube-apiserver", []string{"localhost", "kubernetes"}, loopback))))
	p.write(t, "apiserver-kubelet-client", must(pki.NewSigned(p.ca, pki.ClientTemplate("kube-apiserver-kubelet-client", "kubeadm:cluster-admins"))))
	etcdCA := must(pki.NewCA("etcd-ca"))
	p.write(t, "etcd/ca", etcdCA)
	p.write(t, "etcd/server", must(pki.NewSigned(etcdCA, pki.PeerTemplate("localhost", []string{"localhost"}, loopback))))
	p.write(t, "etcd/healthcheck-client", must(pki.NewSigned(etcdCA, pki.ClientTemplate("kube-etcd-healthcheck-client"))))
	p.write(t, "apiserver-etcd-client", must(pki.NewSigned(etcdCA, pki.ClientTemplate("kube-apiserver-etcd-client"))))
	frontProxyCA := must(pki.NewCA("front-proxy-ca"))
	p.write(t, "front-proxy-ca", frontProxyCA)
	p.write(t, "front-proxy-client", must(pki.NewSigned(frontProxyCA, pki.ClientTemplate("front-proxy-client"))))
	sa := must(pki.NewCA("sa"))
	mustDo(t, keyutil.WriteKey(p.path("sa.key"), sa.KeyPEM))
	der, err := x509.MarshalPKIXPublicKey(sa.Cert.PublicKey)
	mustDo(t, err)
	mustDo(t, os.WriteFile(p.path("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	return p
}

// client is a client-go clientset presenting a certificate of the kubeadm
// CA for user and groups, trusting the kubeadm CA.
func (p *kubeadmPKI) client(t *testing.T, host, user string, groups ...string) *kubernetes.Clientset {
	t.Helper()
	cred, err := pki.NewSigned(p.ca, pki.ClientTemplate(user, groups...))
	mustDo(t, err)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{
		CAData: p.ca.CertPEM, CertData: cred.CertPEM, KeyData: cred.KeyPEM}})
	mustDo(t, err)
	return c
}

// kube-apiserver's command line as kubeadm v1.37 writes it into
// /etc/kubernetes/manifests/kube-apiserver.yaml, against an etcd that
// requires client certificates; then kubeadm's RBAC life.
func TestKubeadmCommandLine(t *testing.T) {
	t.Parallel()
	p := newKubeadmPKI(t)
	etcd, err := harness.StartEtcd(context.Background(), harness.EtcdOptions{Binary: etcdBin, DataDir: filepath.Join(t.TempDir(), "etcd"),
		TLS: &harness.EtcdTLS{CertFile: p.path("etcd/server.crt"), KeyFile: p.path("etcd/server.key"), TrustedCAFile: p.path("etcd/ca.crt"),
			ClientCertFile: p.path("etcd/healthcheck-client.crt"), ClientKeyFile: p.path("etcd/healthcheck-client.key")}})
	mustDo(t, err)
	t.Cleanup(etcd.Stop)
	port := freePort(t)
	log := filepath.Join(t.TempDir(), "audit", "audit.log")
	s := startServer(t,
		"--advertise-address=127.0.0.1",
		"--allow-privileged=true",
		"--authorization-mode=Node,RBAC",
		"--client-ca-file="+p.path("ca.crt"),
		"--enable-admission-plugins=NodeRestriction",
		"--enable-bootstrap-token-auth=true",
		"--etcd-cafile="+p.path("etcd/ca.crt"),
		"--etcd-certfile="+p.path("apiserver-etcd-client.crt"),
		"--etcd-keyfile="+p.path("apiserver-etcd-client.key"),
		"--etcd-servers="+etcd.URL(),
		"--kubelet-client-certificate="+p.path("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+p.path("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--proxy-client-cert-file="+p.path("front-proxy-client.crt"),
		"--proxy-client-key-file="+p.path("front-proxy-client.key"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-client-ca-file="+p.path("front-proxy-ca.crt"),
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--secure-port="+strconv.Itoa(port),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.path("sa.pub"),
		"--service-account-signing-key-file="+p.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/12",
		"--tls-cert-file="+p.path("apiserver.crt"),
		"--tls-private-key-file="+p.path("apiserver.key"),
		// Not kubeadm's: the audit flags this project is for.
		"--audit-policy-file="+writePolicy(t, auditEverything),
		"--audit-log-path="+log,
	)
	ctx := context.Background()
	host := "https://127.0.0.1:" + strconv.Itoa(port)

	// kubeadm's admin.conf: group kubeadm:cluster-admins, nothing until the
	// binding exists.
	admin := p.client(t, host, "kubernetes-admin", "kubeadm:cluster-admins")
	_, err = admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	wantStatus(t, err, http.StatusForbidden, `namespaces is forbidden: User "kubernetes-admin" cannot list resource "namespaces" in API group "" at the cluster scope`)

	// kubeadm's super-admin.conf (system:masters) creates the binding.
	superAdmin := p.client(t, host, "kubernetes-super-admin", "system:masters")
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:cluster-admins"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "kubeadm:cluster-admins"}}}
	if _, err := superAdmin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitShort, "kubernetes-admin to be a cluster admin through RBAC", func() (bool, error) {
		_, err := admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	if _, err := admin.CoreV1().Pods("default").Create(ctx, newPod("default", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin work through RBAC: %v", err)
	}
	waitForEvents(t, logReader(log), []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete,
		RequestURI: "/api/v1/namespaces/default/pods", Verb: "create", Code: 201, User: "kubernetes-admin", Resource: "pods",
		Namespace: "default", Name: "web", AuthorizeDecision: "allow", Annotations: map[string]string{"authorization.k8s.io/reason": `RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" of ClusterRole "cluster-admin" to Group "kubeadm:cluster-admins"`}}})

	// The data really is in the external etcd: a restart of the server
	// still has the pod and the binding.
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitShort, "the pod after a restart", func() (bool, error) {
		_, err := admin.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil, err
	})
}
