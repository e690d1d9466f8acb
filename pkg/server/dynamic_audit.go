package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/audit"
	genericapiserver "k8s.io/apiserver/pkg/server"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/featuregate"
	"k8s.io/klog/v2"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/dynamic"
	"github.com/mini-apiserver/mini-apiserver/pkg/client/auditsinks"
)

// DynamicAuditing is kube-apiserver 1.13-1.18's alpha gate of the dynamic
// audit backend.
const DynamicAuditing featuregate.Feature = "DynamicAuditing"

func init() {
	utilruntime.Must(utilfeature.DefaultMutableFeatureGate.AddVersioned(map[featuregate.Feature]featuregate.VersionedSpecs{
		DynamicAuditing: {{Version: version.MajorMinor(1, 13), Default: false, PreRelease: featuregate.Alpha}},
	}))
}

// AuditRegistrationGroupVersion is the --runtime-config key that serves
// AuditSinks.
const AuditRegistrationGroupVersion = "auditregistration.k8s.io/v1alpha1"

// DynamicAuditOptions are the switches of the dynamic backend: this flag,
// the DynamicAuditing gate and the AuditSink API (--runtime-config), all
// needed, as in kube-apiserver 1.13-1.18.
type DynamicAuditOptions struct {
	Enabled bool
	// BatchMaxWait is how long a sink's batch waits for more events:
	// upstream's 30s by default. kube-apiserver 1.18 had it only as an
	// options field its integration tests lowered; here it is a flag so a
	// test suite running the binary need not wait 30s either.
	BatchMaxWait time.Duration
}

// NewDynamicAuditOptions returns the defaults: off, upstream's batch wait.
func NewDynamicAuditOptions() *DynamicAuditOptions {
	return &DynamicAuditOptions{BatchMaxWait: dynamic.DefaultBatchConfig().MaxBatchWait}
}

// AddFlags adds --audit-dynamic-configuration and
// --audit-dynamic-batch-max-wait.
func (o *DynamicAuditOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "audit-dynamic-configuration", o.Enabled,
		"Enables dynamic audit configuration. This feature also requires the DynamicAuditing feature flag")
	fs.DurationVar(&o.BatchMaxWait, "audit-dynamic-batch-max-wait", o.BatchMaxWait, ""+
		"The longest an AuditSink's batch waits for more events before it is sent (mini-apiserver's own: kube-apiserver 1.13-1.18 "+
		"fixed it at 30s). Lower it so tests see a sink's events sooner.")
}

// Validate names the missing switch, with upstream's message for the gate;
// apiEnabled says whether --runtime-config serves the AuditSink API.
func (o *DynamicAuditOptions) Validate(apiEnabled bool) []error {
	if o.BatchMaxWait <= 0 {
		return []error{fmt.Errorf("--audit-dynamic-batch-max-wait=%s: must be greater than 0", o.BatchMaxWait)}
	}
	if !o.Enabled {
		return nil
	}
	var errs []error
	if !utilfeature.DefaultFeatureGate.Enabled(DynamicAuditing) {
		errs = append(errs, errors.New("--audit-dynamic-configuration set, but DynamicAuditing feature gate is not enabled"))
	}
	if !apiEnabled {
		errs = append(errs, fmt.Errorf("--audit-dynamic-configuration set, but the AuditSink API is not enabled: add --runtime-config=%s=true", AuditRegistrationGroupVersion))
	}
	return errs
}

// on says whether all three switches are on.
func (o *DynamicAuditOptions) on(apiEnabled bool) bool {
	return o.Enabled && apiEnabled && utilfeature.DefaultFeatureGate.Enabled(DynamicAuditing)
}

// applyTo adds the dynamic backend to the audit pipeline: the
// sinks get events captured at RequestResponse while at least one exists;
// the static backends keep to --audit-policy-file.
func (o *DynamicAuditOptions) applyTo(c *genericapiserver.Config) (*dynamic.Backend, error) {
	batch := dynamic.DefaultBatchConfig()
	batch.MaxBatchWait = o.BatchMaxWait
	sinks, err := dynamic.NewBackend(&batch)
	if err != nil {
		return nil, fmt.Errorf("dynamic audit backend: %w", err)
	}
	static := c.AuditPolicyRuleEvaluator
	c.AuditPolicyRuleEvaluator = &dynamic.Evaluator{Static: static, Sinks: sinks}
	if c.AuditBackend != nil && static != nil {
		c.AuditBackend = audit.Union(&dynamic.StaticPolicy{Backend: c.AuditBackend, Policy: static}, sinks)
	} else {
		c.AuditBackend = sinks
	}
	return sinks, nil
}

// runAuditSinkInformer keeps the sinks equal to the AuditSink objects.
func runAuditSinkInformer(ctx context.Context, cfg *rest.Config, sinks *dynamic.Backend) error {
	client, err := auditsinks.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return client.List(ctx, opts)
		},
		WatchFuncWithContext: client.Watch,
	}
	informer := cache.NewSharedIndexInformer(lw, &auditreg.AuditSink{}, 0, cache.Indexers{})
	set := func(obj interface{}) {
		if err := sinks.Set(obj.(*auditreg.AuditSink)); err != nil {
			klog.ErrorS(err, "Audit sink not started")
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: set,
		UpdateFunc: func(old, cur interface{}) {
			if old.(*auditreg.AuditSink).Generation != cur.(*auditreg.AuditSink).Generation {
				set(cur)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*auditreg.AuditSink); ok {
				sinks.Delete(s.UID)
			}
		},
	}); err != nil {
		return err
	}
	go informer.RunWithContext(ctx)
	return nil
}
