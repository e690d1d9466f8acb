// Package auditsinks is a typed client of auditregistration.k8s.io/v1alpha1
// AuditSinks, the client-go clientset's AuditregistrationV1alpha1().AuditSinks()
// of Kubernetes 1.18 (removed from client-go with the types): the server's
// informer lists and watches with it, tests create, update and delete.
package auditsinks

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
)

const resource = "auditsinks"

// Client reads and writes AuditSinks.
type Client struct {
	rest rest.Interface
}

// NewForConfig returns a client for the server cfg points at.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &auditreg.SchemeGroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = api.Codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	r, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("auditsinks client: %w", err)
	}
	return &Client{rest: r}, nil
}

// List lists AuditSinks.
func (c *Client) List(ctx context.Context, opts metav1.ListOptions) (*auditreg.AuditSinkList, error) {
	list := &auditreg.AuditSinkList{}
	err := c.rest.Get().Resource(resource).VersionedParams(&opts, api.ParameterCodec).Do(ctx).Into(list)
	return list, err
}

// Watch watches AuditSinks.
func (c *Client) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return c.rest.Get().Resource(resource).VersionedParams(&opts, api.ParameterCodec).Watch(ctx)
}

// Get reads one AuditSink.
func (c *Client) Get(ctx context.Context, name string) (*auditreg.AuditSink, error) {
	out := &auditreg.AuditSink{}
	err := c.rest.Get().Resource(resource).Name(name).Do(ctx).Into(out)
	return out, err
}

// Create creates an AuditSink and returns it as stored (defaulted).
func (c *Client) Create(ctx context.Context, sink *auditreg.AuditSink) (*auditreg.AuditSink, error) {
	out := &auditreg.AuditSink{}
	err := c.rest.Post().Resource(resource).Body(sink).Do(ctx).Into(out)
	return out, err
}

// Update replaces an AuditSink; sink carries the resourceVersion it read.
func (c *Client) Update(ctx context.Context, sink *auditreg.AuditSink) (*auditreg.AuditSink, error) {
	out := &auditreg.AuditSink{}
	err := c.rest.Put().Resource(resource).Name(sink.Name).Body(sink).Do(ctx).Into(out)
	return out, err
}

// Delete deletes an AuditSink.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.rest.Delete().Resource(resource).Name(name).Do(ctx).Error()
}
