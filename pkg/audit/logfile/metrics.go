package logfile

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	_ "k8s.io/apiserver/pkg/audit" // registers apiserver_audit_error_total
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const (
	reasonRenamed   = "renamed"
	reasonDeleted   = "deleted"
	reasonTruncated = "truncated"
)

var (
	reopens = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "apiserver_audit_log",
		Name:           "reopens_total",
		Help:           "Times the audit log path was reopened or written on because the file under it was renamed away, deleted or truncated in place.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	deletedEvents = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      "apiserver_audit_log",
		Name:           "deleted_events_total",
		Help:           "Audit events lost because the log file they were written to was deleted (also counted in apiserver_audit_error_total{plugin=\"log\"}).",
		StabilityLevel: metrics.ALPHA,
	})
)

// auditErrors is the library's apiserver_audit_error_total. The library
// counts into it only through audit.HandlePluginError, which takes the lost
// events themselves and logs each one; the events of a deleted file are
// gone, so their count is added here directly. The counter is found by
// registering its twin: the registry answers with the collector it already
// has. A library that renames or redescribes it fails every start loudly
// (libraryAuditErrors), never counts into nothing.
var auditErrors = libraryAuditErrors()

func libraryAuditErrors() *metrics.CounterVec {
	twin := metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "apiserver_audit",
		Name:           "error_total",
		Help:           "Counter of audit events that failed to be audited properly. Plugin identifies the plugin affected by the error.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"plugin"})
	var registered prometheus.AlreadyRegisteredError
	if err := legacyregistry.Register(twin); !errors.As(err, &registered) {
		panic(fmt.Sprintf("audit log: k8s.io/apiserver's apiserver_audit_error_total not found in the legacy registry (%v)", err))
	}
	existing, ok := registered.ExistingCollector.(*metrics.CounterVec)
	if !ok {
		panic(fmt.Sprintf("audit log: apiserver_audit_error_total is a %T, not a *metrics.CounterVec", registered.ExistingCollector))
	}
	return existing
}

func init() {
	legacyregistry.MustRegister(reopens, deletedEvents)
}

// lose counts n events lost with a deleted file.
func (f *File) lose(n int64) {
	deletedEvents.Add(float64(n))
	auditErrors.WithLabelValues(pluginlog.PluginName).Add(float64(n))
}
