package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// clientGetter reads from the server's informers and, for what they have
// not seen yet, from the API: kube's NewGetterFromClient.
type clientGetter struct {
	serviceAccounts corelisters.ServiceAccountLister
	pods            corelisters.PodLister
	secrets         corelisters.SecretLister
	client          kubernetes.Interface
}

// NewGetter reads through factory's informers (registered here, started
// with the factory) and client.
func NewGetter(factory informers.SharedInformerFactory, client kubernetes.Interface) Getter {
	core := factory.Core().V1()
	return &clientGetter{serviceAccounts: core.ServiceAccounts().Lister(), pods: core.Pods().Lister(), secrets: core.Secrets().Lister(), client: client}
}

func (g *clientGetter) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if sa, err := g.serviceAccounts.ServiceAccounts(namespace).Get(name); err == nil || !apierrors.IsNotFound(err) {
		return sa, err
	}
	return g.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g *clientGetter) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	if pod, err := g.pods.Pods(namespace).Get(name); err == nil || !apierrors.IsNotFound(err) {
		return pod, err
	}
	return g.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g *clientGetter) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if secret, err := g.secrets.Secrets(namespace).Get(name); err == nil || !apierrors.IsNotFound(err) {
		return secret, err
	}
	return g.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}
