// Package podsecurity is the PodSecurity admission plugin: the policy
// engine of k8s.io/pod-security-admission, adapted to k8s.io/apiserver's
// admission interface as kube-apiserver adapts it. Namespaces choose their
// level with pod-security.kubernetes.io/{enforce,audit,warn} labels; the
// default is privileged.
package podsecurity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	psadmission "k8s.io/pod-security-admission/admission"
	psconfig "k8s.io/pod-security-admission/admission/api/load"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"
)

// PluginName is kube's name of the plugin.
const PluginName = "PodSecurity"

// Plugin evaluates pods, and namespace label changes, against the Pod
// Security Standards.
type Plugin struct {
	*admission.Handler
	delegate        *psadmission.Admission
	namespaceLister corev1listers.NamespaceLister
	podLister       corev1listers.PodLister
	client          kubernetes.Interface
}

var (
	_ admission.ValidationInterface     = &Plugin{}
	_ admission.InitializationValidator = &Plugin{}
)

var (
	recorder     *metrics.PrometheusRecorder
	recorderOnce sync.Once
)

// The metrics are registered once per process, however many servers run in it.
func defaultRecorder() metrics.Recorder {
	recorderOnce.Do(func() {
		recorder = metrics.NewPrometheusRecorder(psapi.GetAPIVersion())
		recorder.MustRegister(legacyregistry.MustRegister)
	})
	return recorder
}

// Register adds the plugin to plugins under kube's name; its configuration
// (PodSecurityConfiguration) comes from --admission-control-config-file.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(config io.Reader) (admission.Interface, error) { return New(config) })
}

// New returns the plugin with config, a PodSecurityConfiguration; with none,
// kube's default: every level privileged, no exemptions.
func New(config io.Reader) (*Plugin, error) {
	cfg, err := psconfig.LoadFromReader(config)
	if err != nil {
		return nil, fmt.Errorf("%s configuration: %w", PluginName, err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security checks: %w", err)
	}
	return &Plugin{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		delegate: &psadmission.Admission{
			Configuration:    cfg,
			Evaluator:        evaluator,
			Metrics:          defaultRecorder(),
			PodSpecExtractor: psadmission.DefaultPodSpecExtractor{},
		},
	}, nil
}

// SetExternalKubeInformerFactory gives the plugin namespace and pod listers.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	namespaces := f.Core().V1().Namespaces()
	p.namespaceLister = namespaces.Lister()
	p.podLister = f.Core().V1().Pods().Lister()
	p.SetReadyFunc(namespaces.Informer().HasSynced)
	p.wire()
}

// SetExternalKubeClientSet gives the plugin a client for namespaces not yet
// in the informer's cache.
func (p *Plugin) SetExternalKubeClientSet(client kubernetes.Interface) {
	p.client = client
	p.wire()
}

func (p *Plugin) wire() {
	if p.namespaceLister == nil || p.podLister == nil || p.client == nil {
		return
	}
	p.delegate.PodLister = psadmission.PodListerFromInformer(p.podLister)
	p.delegate.NamespaceGetter = psadmission.NamespaceGetterFromListerAndClient(p.namespaceLister, p.client)
}

// ValidateInitialization checks the configuration is complete.
func (p *Plugin) ValidateInitialization() error {
	if p.delegate.PodLister == nil || p.delegate.NamespaceGetter == nil {
		return errors.New("PodSecurity needs an informer factory and a client")
	}
	if err := p.delegate.CompleteConfiguration(); err != nil {
		return fmt.Errorf("%s configuration error: %w", PluginName, err)
	}
	if err := p.delegate.ValidateConfiguration(); err != nil {
		return fmt.Errorf("%s invalid: %w", PluginName, err)
	}
	return nil
}

var applicable = map[schema.GroupResource]bool{corev1.Resource("pods"): true, corev1.Resource("namespaces"): true}

// Validate admits or rejects a request, and records what kube-apiserver
// records: warnings to the client and pod-security.kubernetes.io/* audit
// annotations.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if !applicable[a.GetResource().GroupResource()] {
		return nil
	}
	result := p.delegate.Validate(ctx, attributes{a})
	for _, w := range result.Warnings {
		warning.AddWarning(ctx, "", w)
	}
	var annotations []string
	for k, v := range result.AuditAnnotations {
		annotations = append(annotations, psapi.AuditAnnotationPrefix+k, v)
	}
	audit.AddAuditAnnotations(ctx, annotations...)
	if result.Allowed {
		return nil
	}
	err := admission.NewForbidden(a, errors.New("Not allowed by PodSecurity")).(*apierrors.StatusError)
	if r := result.Result; r != nil {
		if r.Message != "" {
			err.ErrStatus.Message = r.Message
		}
		if r.Reason != "" {
			err.ErrStatus.Reason = r.Reason
		}
		if r.Details != nil {
			err.ErrStatus.Details = r.Details
		}
		if r.Code != 0 {
			err.ErrStatus.Code = r.Code
		}
	}
	return err
}

// attributes presents admission attributes to the policy engine. Objects are
// already core/v1: no conversion is needed.
type attributes struct{ admission.Attributes }

func (a attributes) GetOperation() admissionv1.Operation {
	return admissionv1.Operation(a.Attributes.GetOperation())
}

func (a attributes) GetUserName() string { return a.GetUserInfo().GetName() }

func (a attributes) GetObject() (runtime.Object, error) { return a.Attributes.GetObject(), nil }

func (a attributes) GetOldObject() (runtime.Object, error) { return a.Attributes.GetOldObject(), nil }
