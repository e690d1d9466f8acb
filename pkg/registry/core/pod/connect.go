package pod

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
	netutils "k8s.io/utils/net"
)

// The subresources below reach a pod's kubelet (log, exec, attach,
// portforward) or the pod itself (proxy). This server has no kubelets and
// no Node objects, so they answer what kube-apiserver answers for a pod
// with no node or a node it cannot find, after the same checks in the same
// order (kube's pkg/registry/core/pod/rest and pkg/registry/core/pod/strategy.go):
// the pod must exist, the container must be valid, and then
//   - no spec.nodeName: 400 "pod NAME does not have a host assigned"
//     (exec, attach, portforward) or an empty log (log);
//   - spec.nodeName set: 404 pods "NODE" not found, kube's answer when the
//     node's object does not exist.

func getPod(ctx context.Context, g rest.Getter, name string) (*corev1.Pod, error) {
	obj, err := g.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

// kubeletUnreachable is the answer for a pod's node: kube looks the node
// up (pkg/kubelet/client NodeConnectionInfoGetter) and there is none here.
// kube's node store names the resource of the request it runs under, so
// the answer is `pods "NODE" not found` (seen on kube-apiserver v1.37.2).
func kubeletUnreachable(pod *corev1.Pod) error {
	return apierrors.NewNotFound(corev1.Resource("pods"), pod.Spec.NodeName)
}

// containerFor is kube's validateContainer: an empty name picks the only container, a
// given one must be one of the pod's (init and ephemeral included).
func containerFor(container string, pod *corev1.Pod) (string, error) {
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		default:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, containerNames(pod)))
		}
	}
	for _, name := range containerNames(pod) {
		if name == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

// containerNames lists init, regular and ephemeral containers in kube's
// VisitContainers order.
func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

func nodeLocation(pod *corev1.Pod) error {
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	return kubeletUnreachable(pod)
}

// ensureAuthorizedForVerb is kube's (pkg/registry/core/pod/rest/authorize.go,
// feature AuthorizePodWebsocketUpgradeCreatePermission, on by default since
// 1.35): a WebSocket exec, attach or portforward arrives as a GET, so it is
// authorized as "get"; kube checks "create" as well, so that RBAC written
// for SPDY's POST still decides.
func ensureAuthorizedForVerb(ctx context.Context, a authorizer.Authorizer, verb string) error {
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok {
		return apierrors.NewInternalError(errors.New("no request info in context"))
	}
	if info.Verb == verb {
		return nil
	}
	if a == nil {
		return apierrors.NewInternalError(errors.New("no authorizer available"))
	}
	attrs, err := filters.GetAuthorizerAttributes(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("error building authorizer attributes: %w", err))
	}
	decision, reason, err := a.Authorize(ctx, overrideVerb{Attributes: attrs, verb: verb})
	if err != nil {
		return err
	}
	if decision != authorizer.DecisionAllow {
		return apierrors.NewForbidden(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name, errors.New(reason))
	}
	return nil
}

type overrideVerb struct {
	authorizer.Attributes
	verb string
}

func (o overrideVerb) GetVerb() string { return o.verb }

// upgradeableMethods: GET for WebSockets, POST for SPDY.
var upgradeableMethods = []string{"GET", "POST"}

// StreamREST serves pods/exec, pods/attach or pods/portforward (kube writes
// a type for each): authorized for create as well, then kube's checks on
// the way to the kubelet.
type StreamREST struct {
	store      rest.Getter
	authorizer authorizer.Authorizer
	newOptions func() runtime.Object
	// container is the container the options name; nil for portforward,
	// which names none.
	container func(opts runtime.Object) string
}

var _ rest.Connecter = &StreamREST{}

func newExecREST(store rest.Getter, authz authorizer.Authorizer) *StreamREST {
	return &StreamREST{store: store, authorizer: authz, newOptions: func() runtime.Object { return &corev1.PodExecOptions{} },
		container: func(opts runtime.Object) string { return opts.(*corev1.PodExecOptions).Container }}
}

func newAttachREST(store rest.Getter, authz authorizer.Authorizer) *StreamREST {
	return &StreamREST{store: store, authorizer: authz, newOptions: func() runtime.Object { return &corev1.PodAttachOptions{} },
		container: func(opts runtime.Object) string { return opts.(*corev1.PodAttachOptions).Container }}
}

func newPortForwardREST(store rest.Getter, authz authorizer.Authorizer) *StreamREST {
	return &StreamREST{store: store, authorizer: authz, newOptions: func() runtime.Object { return &corev1.PodPortForwardOptions{} }}
}

func (r *StreamREST) New() runtime.Object { return r.newOptions() }
func (r *StreamREST) Destroy()            {}
func (r *StreamREST) NewConnectOptions() (runtime.Object, bool, string) {
	return r.newOptions(), false, ""
}
func (r *StreamREST) ConnectMethods() []string { return upgradeableMethods }

func (r *StreamREST) Connect(ctx context.Context, name string, opts runtime.Object, _ rest.Responder) (http.Handler, error) {
	if err := ensureAuthorizedForVerb(ctx, r.authorizer, "create"); err != nil {
		return nil, err
	}
	pod, err := getPod(ctx, r.store, name)
	if err != nil {
		return nil, err
	}
	if r.container != nil {
		if _, err := containerFor(r.container(opts), pod); err != nil {
			return nil, err
		}
	}
	return nil, nodeLocation(pod)
}

// ProxyREST serves pods/proxy and pods/proxy/{path}: to the pod's IP, as
// kube does, when the pod has a routable one (status.podIPs, set by a
// kubelet here by whoever writes pods/status).
type ProxyREST struct {
	store     rest.Getter
	transport http.RoundTripper
}

var _ rest.Connecter = &ProxyREST{}

// proxyMethods are kube's.
var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

func (r *ProxyREST) New() runtime.Object { return &corev1.PodProxyOptions{} }
func (r *ProxyREST) Destroy()            {}
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodProxyOptions{}, true, "path"
}
func (r *ProxyREST) ConnectMethods() []string { return proxyMethods }

func (r *ProxyREST) Connect(ctx context.Context, id string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	location, err := r.resourceLocation(ctx, id)
	if err != nil {
		return nil, err
	}
	location.Path = utilnet.JoinPreservingTrailingSlash(location.Path, opts.(*corev1.PodProxyOptions).Path)
	return proxy.NewUpgradeAwareHandler(location, r.transport, true, false, proxy.NewErrorResponder(responder)), nil
}

// resourceLocation is kube's pod ResourceLocation: "name", "name:port" or
// "scheme:name:port"; the port defaults to the first declared one.
func (r *ProxyREST) resourceLocation(ctx context.Context, id string) (*url.URL, error) {
	scheme, name, port, valid := utilnet.SplitSchemeNamePort(id)
	if !valid {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", id))
	}
	pod, err := getPod(ctx, r.store, name)
	if err != nil {
		return nil, err
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = fmt.Sprintf("%d", c.Ports[0].ContainerPort)
				break
			}
		}
	}
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	if ip := netutils.ParseIPSloppy(podIP); ip == nil || !ip.IsGlobalUnicast() {
		return nil, apierrors.NewBadRequest("address not allowed")
	}
	loc := &url.URL{Scheme: scheme, Host: podIP}
	if strings.Contains(podIP, ":") {
		loc.Host = "[" + podIP + "]"
	}
	if port != "" {
		loc.Host = net.JoinHostPort(podIP, port)
	}
	return loc, nil
}

// LogREST serves pods/log: an empty stream for a pod not on a node, as
// kube's (the kubelet would have the log).
type LogREST struct {
	store rest.Getter
}

var _ rest.GetterWithOptions = &LogREST{}
var _ rest.StorageMetadata = &LogREST{}

func (r *LogREST) New() runtime.Object { return &corev1.Pod{} }
func (r *LogREST) Destroy()            {}

// ProducesMIMETypes and ProducesObject make OpenAPI say text/plain, as kube's.
func (r *LogREST) ProducesMIMETypes(string) []string { return []string{"text/plain"} }
func (r *LogREST) ProducesObject(string) interface{} { return "" }

func (r *LogREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}

// OverrideMetricsVerb counts a log GET as CONNECT in the request metrics,
// as kube's.
func (r *LogREST) OverrideMetricsVerb(oldVerb string) string {
	if oldVerb == "GET" {
		return "CONNECT"
	}
	return oldVerb
}

func (r *LogREST) Get(ctx context.Context, name string, opts runtime.Object) (runtime.Object, error) {
	logOpts := opts.(*corev1.PodLogOptions)
	if errs := validateLogOptions(logOpts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind(), name, errs)
	}
	pod, err := getPod(ctx, r.store, name)
	if err != nil {
		return nil, err
	}
	if _, err := containerFor(logOpts.Container, pod); err != nil {
		return nil, err
	}
	if pod.Spec.NodeName != "" {
		return nil, kubeletUnreachable(pod)
	}
	// No location: the library's streamer answers 200 with no body.
	return &genericrest.LocationStreamer{ContentType: "text/plain", Flush: logOpts.Follow}, nil
}

// validateLogOptions is kube's ValidatePodLogOptions with its
// PodLogsQuerySplitStreams gate off (alpha in 1.37).
func validateLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var allErrs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		allErrs = append(allErrs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		allErrs = append(allErrs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	if opts.Stream != nil {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("stream"), "may not be specified"))
	}
	return allErrs
}
