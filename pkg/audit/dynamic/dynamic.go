// Package dynamic is the third audit backend: webhook sinks configured at
// run time by AuditSink objects (auditregistration.k8s.io/v1alpha1), as
// k8s.io/apiserver v0.18's plugin/pkg/audit/dynamic had it (removed in
// v0.19; this follows it). Each sink is
// enforced(limited(buffered(counted(webhook)))): the sink's own policy
// enforced per event; a bound that drops (and counts) before the buffer is
// full; the library's buffered backend with the dynamic defaults and the
// sink's throttle; a count of what the webhook fails to deliver; the
// library's webhook.NewDynamicBackend. Unlike upstream, what a sink drops
// is counted per sink and logged once a burst.
package dynamic

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditinstall "k8s.io/apiserver/pkg/apis/audit/install"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/util/webhook"
	pluginbuffered "k8s.io/apiserver/plugin/pkg/audit/buffered"
	pluginwebhook "k8s.io/apiserver/plugin/pkg/audit/webhook"
	"k8s.io/klog/v2"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
)

// DefaultBatchConfig is upstream's for dynamic sinks: buffer 5000, batches
// of 400, at least every 30s, delivered asynchronously; the throttle comes
// from the sink.
func DefaultBatchConfig() pluginbuffered.BatchConfig {
	return pluginbuffered.BatchConfig{BufferSize: 5000, MaxBatchSize: 400, MaxBatchWait: 30 * time.Second, AsyncDelegate: true}
}

// retryBackoff is upstream's (plugin/pkg/audit/dynamic/factory.go) as a
// wait.Backoff: 500ms, then the library's growth.
var retryBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// Backend fans events out to the current sinks.
type Backend struct {
	batch   pluginbuffered.BatchConfig
	clients webhook.ClientManager

	mu      sync.Mutex // serialises changes of the set
	sinks   atomic.Pointer[map[types.UID]*sink]
	stopped bool
	stopCh  <-chan struct{}
}

// sink is one AuditSink's running backend.
type sink struct {
	audit.Backend
	config *auditreg.AuditSink
	stop   chan struct{}
	drops  *dropCounter
}

// NewBackend returns a backend with no sinks; batch overrides the defaults
// (tests lower MaxBatchWait).
func NewBackend(batch *pluginbuffered.BatchConfig) (*Backend, error) {
	cm, err := webhook.NewClientManager([]schema.GroupVersion{auditv1.SchemeGroupVersion}, func(s *runtime.Scheme) error {
		auditinstall.Install(s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	auth, err := webhook.NewDefaultAuthenticationInfoResolver("")
	if err != nil {
		return nil, err
	}
	cm.SetAuthenticationInfoResolver(auth)
	cm.SetServiceResolver(webhook.NewDefaultServiceResolver())
	b := &Backend{batch: DefaultBatchConfig(), clients: cm}
	if batch != nil {
		b.batch = *batch
	}
	b.sinks.Store(&map[types.UID]*sink{})
	return b, nil
}

// ProcessEvents hands the events to every sink; a sink never fails or
// slows a request.
func (b *Backend) ProcessEvents(events ...*auditinternal.Event) bool {
	for _, s := range *b.sinks.Load() {
		s.ProcessEvents(events...)
	}
	return true
}

// Run starts the sinks there are and those added later, until stopCh.
func (b *Backend) Run(stopCh <-chan struct{}) error {
	b.mu.Lock()
	b.stopCh = stopCh
	for _, s := range *b.sinks.Load() {
		if err := s.Run(s.stop); err != nil {
			b.mu.Unlock()
			return err
		}
	}
	b.mu.Unlock()
	go func() {
		<-stopCh
		b.mu.Lock()
		defer b.mu.Unlock()
		b.stopped = true
		for _, s := range *b.sinks.Load() {
			close(s.stop)
		}
	}()
	return nil
}

// Shutdown drains every sink.
func (b *Backend) Shutdown() {
	for _, s := range *b.sinks.Load() {
		s.Shutdown()
	}
}

func (b *Backend) String() string {
	var names []string
	for _, s := range *b.sinks.Load() {
		names = append(names, s.config.Name)
	}
	sort.Strings(names)
	return fmt.Sprintf("dynamic[%s]", strings.Join(names, ","))
}

// Names are the sinks running.
func (b *Backend) Names() []string {
	var names []string
	for _, s := range *b.sinks.Load() {
		names = append(names, s.config.Name)
	}
	sort.Strings(names)
	return names
}

// Len is how many sinks are running.
func (b *Backend) Len() int { return len(*b.sinks.Load()) }

// Set starts a sink for config, or replaces the sink of the same object:
// the new one takes events before the old one is drained, so none is lost
// and none is sent twice.
func (b *Backend) Set(config *auditreg.AuditSink) error {
	s, err := b.newSink(config)
	if err != nil {
		return fmt.Errorf("audit sink %s: %w", config.Name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil
	}
	if b.stopCh != nil {
		if err := s.Run(s.stop); err != nil {
			return fmt.Errorf("audit sink %s: %w", config.Name, err)
		}
	}
	next := b.copySinks()
	old := next[config.UID]
	next[config.UID] = s
	b.sinks.Store(&next)
	if old != nil {
		go drain(old)
	}
	klog.InfoS("Audit sink running", "sink", config.Name, "level", config.Spec.Policy.Level, "stages", config.Spec.Policy.Stages, "target", target(config))
	return nil
}

// Delete drains and stops the sink of uid.
func (b *Backend) Delete(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := b.copySinks()
	old, ok := next[uid]
	if !ok {
		return
	}
	delete(next, uid)
	b.sinks.Store(&next)
	klog.InfoS("Audit sink removed", "sink", old.config.Name)
	go drain(old)
}

func drain(s *sink) {
	close(s.stop)
	s.Shutdown()
}

func (b *Backend) copySinks() map[types.UID]*sink {
	next := make(map[types.UID]*sink, len(*b.sinks.Load())+1)
	for k, v := range *b.sinks.Load() {
		next[k] = v
	}
	return next
}

// newSink builds enforced(limited(buffered(counted(webhook)))) for config.
func (b *Backend) newSink(config *auditreg.AuditSink) (*sink, error) {
	cc := config.Spec.Webhook.ClientConfig
	hook := webhook.ClientConfig{Name: config.Name, CABundle: cc.CABundle}
	if cc.URL != nil {
		hook.URL = *cc.URL
	}
	if s := cc.Service; s != nil {
		hook.Service = &webhook.ClientConfigService{Name: s.Name, Namespace: s.Namespace, Port: auditreg.DefaultServicePort}
		if s.Path != nil {
			hook.Service.Path = *s.Path
		}
		if s.Port != nil {
			hook.Service.Port = *s.Port
		}
	}
	client, err := b.clients.HookClient(hook)
	if err != nil {
		return nil, fmt.Errorf("webhook client: %w", err)
	}
	drops := newDropCounter(config.Name)
	reached := &atomic.Int64{}
	batch := b.batch
	if t := config.Spec.Webhook.Throttle; t != nil && t.QPS != nil && t.Burst != nil {
		batch.ThrottleEnable, batch.ThrottleQPS, batch.ThrottleBurst = true, float32(*t.QPS), int(*t.Burst)
	}
	var backend audit.Backend = pluginwebhook.NewDynamicBackend(client, retryBackoff)
	backend = &counted{Backend: backend, drops: drops, reason: reasonDelivery, reached: reached}
	backend = pluginbuffered.NewBackend(backend, batch)
	backend = &limited{Backend: backend, drops: drops, capacity: int64(batch.BufferSize), reached: reached}
	backend = &enforced{Backend: backend, level: auditinternal.Level(config.Spec.Policy.Level), stages: config.Spec.Policy.Stages}
	return &sink{Backend: backend, config: config.DeepCopy(), stop: make(chan struct{}), drops: drops}, nil
}

func target(config *auditreg.AuditSink) string {
	cc := config.Spec.Webhook.ClientConfig
	if cc.URL != nil {
		return *cc.URL
	}
	// Upstream's default resolver; with no Services here, the name must
	// resolve by itself.
	return auditreg.ServiceURL(cc.Service) + " (service: the name must resolve from this host)"
}
