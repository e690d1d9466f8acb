package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
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
	cliflag "k8s.io/component-base/cli/flag"
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

// DynamicAuditOptions are the three switches of the dynamic backend, all
// needed, as in kube-apiserver 1.13-1.18.
type DynamicAuditOptions struct {
	Enabled bool
	// BatchMaxWait is how long a sink's batch waits for more events:
	// upstream's 30s by default. kube-apiserver 1.18 had it only as an
	// options field its integration tests lowered; here it is a flag so a
	// test suite running the binary need not wait 30s either.
	BatchMaxWait time.Duration
	// RuntimeConfig is --runtime-config; only auditregistration.k8s.io/v1alpha1
	// means something here, the other keys are named in the start-up warning.
	RuntimeConfig cliflag.ConfigurationMap
}

// NewDynamicAuditOptions returns the defaults: off, upstream's batch wait.
func NewDynamicAuditOptions() *DynamicAuditOptions {
	return &DynamicAuditOptions{BatchMaxWait: dynamic.DefaultBatchConfig().MaxBatchWait, RuntimeConfig: cliflag.ConfigurationMap{}}
}

// AddFlags adds --audit-dynamic-configuration and --runtime-config.
func (o *DynamicAuditOptions) AddFlags(audit, apiEnablement *pflag.FlagSet) {
	audit.BoolVar(&o.Enabled, "audit-dynamic-configuration", o.Enabled,
		"Enables dynamic audit configuration. This feature also requires the DynamicAuditing feature flag")
	audit.DurationVar(&o.BatchMaxWait, "audit-dynamic-batch-max-wait", o.BatchMaxWait, ""+
		"The longest an AuditSink's batch waits for more events before it is sent (mini-apiserver's own: kube-apiserver 1.13-1.18 "+
		"fixed it at 30s). Lower it so tests see a sink's events sooner.")
	apiEnablement.Var(&o.RuntimeConfig, "runtime-config", ""+
		"A set of key=value pairs that enable or disable built-in APIs. Here only auditregistration.k8s.io/v1alpha1=true|false "+
		"(the AuditSink API of the dynamic audit backend) has an effect; other keys are accepted and named in the start-up warning.")
}

// groupEnabled says whether --runtime-config turns the AuditSink API on.
func (o *DynamicAuditOptions) groupEnabled() (bool, error) {
	v, ok := o.RuntimeConfig[AuditRegistrationGroupVersion]
	if !ok {
		return false, nil
	}
	if v == "" {
		return true, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("--runtime-config %s=%s: want true or false", AuditRegistrationGroupVersion, v)
	}
	return on, nil
}

// IgnoredRuntimeConfig are the --runtime-config keys without effect here.
func (o *DynamicAuditOptions) IgnoredRuntimeConfig() []string {
	var keys []string
	for k := range o.RuntimeConfig {
		if k != AuditRegistrationGroupVersion {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Validate names the missing switch, with upstream's message for the gate.
func (o *DynamicAuditOptions) Validate() []error {
	group, err := o.groupEnabled()
	if err != nil {
		return []error{err}
	}
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
	if !group {
		errs = append(errs, fmt.Errorf("--audit-dynamic-configuration set, but the AuditSink API is not enabled: add --runtime-config=%s=true", AuditRegistrationGroupVersion))
	}
	return errs
}

// on says whether all three switches are on.
func (o *DynamicAuditOptions) on() bool {
	group, _ := o.groupEnabled()
	return o.Enabled && group && utilfeature.DefaultFeatureGate.Enabled(DynamicAuditing)
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
