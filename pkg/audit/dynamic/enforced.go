package dynamic

import (
	"slices"
	"sync"
	"sync/atomic"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
)

// enforced applies a sink's policy to each event, as apiserver v0.18's
// plugin/pkg/audit/dynamic/enforced with policy.EnforcePolicy: events of
// stages the sink does not ask for are dropped, bodies are stripped to the
// sink's level. Events are shared with the other backends: a changed one
// is a copy.
type enforced struct {
	audit.Backend
	level  auditinternal.Level
	stages []auditreg.Stage
}

func (e *enforced) ProcessEvents(events ...*auditinternal.Event) bool {
	var out []*auditinternal.Event
	for _, ev := range events {
		if ev == nil || !slices.Contains(e.stages, auditreg.Stage(ev.Stage)) {
			continue
		}
		if e.level == auditinternal.LevelNone {
			continue
		}
		out = append(out, atLevel(ev, e.level))
	}
	if len(out) == 0 {
		return true
	}
	return e.Backend.ProcessEvents(out...)
}

// atLevel is ev as an event of level, its bodies above that level
// stripped (apiserver v0.18's policy.EnforcePolicy). Events are shared with
// the other backends: a changed one is a copy.
func atLevel(ev *auditinternal.Event, level auditinternal.Level) *auditinternal.Event {
	if ev.Level == level {
		return ev
	}
	c := *ev
	c.Level = level
	switch level {
	case auditinternal.LevelMetadata:
		c.RequestObject, c.ResponseObject = nil, nil
	case auditinternal.LevelRequest:
		c.ResponseObject = nil
	}
	return &c
}

const (
	reasonBuffer   = "buffer_full"
	reasonDelivery = "delivery_failed"
)

var droppedEvents = metrics.NewCounterVec(&metrics.CounterOpts{
	Subsystem:      "apiserver_audit_dynamic",
	Name:           "dropped_events_total",
	Help:           "Audit events a dynamic audit sink dropped, by sink and reason: buffer_full (its batch buffer was full), delivery_failed (sending failed after all retries).",
	StabilityLevel: metrics.ALPHA,
}, []string{"sink", "reason"})

func init() { legacyregistry.MustRegister(droppedEvents) }

// dropCounter counts one sink's drops and logs the first of a burst.
type dropCounter struct {
	sink    string
	mu      sync.Mutex
	failing map[string]bool
}

func newDropCounter(sink string) *dropCounter {
	return &dropCounter{sink: sink, failing: map[string]bool{}}
}

func (d *dropCounter) dropped(reason string, n int) {
	droppedEvents.WithLabelValues(d.sink, reason).Add(float64(n))
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.failing[reason] {
		d.failing[reason] = true
		klog.ErrorS(nil, "Audit sink is dropping events (counted in apiserver_audit_dynamic_dropped_events_total)", "sink", d.sink, "reason", reason, "events", n)
	}
}

func (d *dropCounter) ok(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing[reason] {
		d.failing[reason] = false
		klog.InfoS("Audit sink delivers again", "sink", d.sink, "after", reason)
	}
}

// counted counts what its delegate (the webhook) fails to deliver, and
// every event that reached it, delivered or not.
type counted struct {
	audit.Backend
	drops   *dropCounter
	reason  string
	reached *atomic.Int64
}

func (c *counted) ProcessEvents(events ...*auditinternal.Event) bool {
	defer c.reached.Add(int64(len(events)))
	if !c.Backend.ProcessEvents(events...) {
		c.drops.dropped(c.reason, len(events))
		return false
	}
	c.drops.ok(c.reason)
	return true
}

// limited keeps the library's buffered backend from ever being full: it
// drops (and counts) an event itself when the events handed over but not
// yet at the webhook fill the buffer. (The buffered backend drops silently
// for its caller: it counts only under its own plugin name.) Events taken
// out of the buffer into a batch not yet sent still count as in it, so
// this drops a little early, never late.
type limited struct {
	audit.Backend
	drops    *dropCounter
	capacity int64
	handed   atomic.Int64
	reached  *atomic.Int64
}

func (l *limited) ProcessEvents(events ...*auditinternal.Event) bool {
	for _, ev := range events {
		if l.handed.Load()-l.reached.Load() >= l.capacity {
			l.drops.dropped(reasonBuffer, 1)
			continue
		}
		l.handed.Add(1)
		l.Backend.ProcessEvents(ev)
	}
	return true
}
