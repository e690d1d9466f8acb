package server

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	pluginbuffered "k8s.io/apiserver/plugin/pkg/audit/buffered"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
	plugintruncate "k8s.io/apiserver/plugin/pkg/audit/truncate"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logbackend"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logfile"
)

// applyAudit wires the library's audit pipeline: the policy, the log and
// webhook backends, batching, truncation and the handler-chain filter of
// AuditOptions.ApplyTo. Two parts differ: the log backend writes to a
// logfile.File, which reopens a log that was renamed, deleted or truncated
// under it, where the library's writer keeps writing into the old file;
// and JSON lines are encoded straight into it (pkg/audit/logbackend: the
// library's lines, without its two more copies of each, and written around
// large objects rather than built with them).
// The log backend is assembled as AuditOptions.ApplyTo assembles it
// (k8s.io/apiserver/pkg/server/options/audit.go: newBackend, wrapBackend).
func (o CompletedOptions) applyAudit(c *genericapiserver.Config) (*logfile.File, error) {
	logOpts := o.Audit.LogOptions
	if logOpts.Path == "" || logOpts.Path == "-" || o.Audit.PolicyFile == "" {
		return nil, o.Audit.ApplyTo(c)
	}
	withoutLog := *o.Audit
	withoutLog.LogOptions.Path = ""
	if err := withoutLog.ApplyTo(c); err != nil {
		return nil, err
	}
	file, err := logfile.Open(logfile.Options{Path: logOpts.Path, MaxSize: logOpts.MaxSize, MaxAge: logOpts.MaxAge,
		MaxBackups: logOpts.MaxBackups, Compress: logOpts.Compress})
	if err != nil {
		return nil, fmt.Errorf("--audit-log-path: %w", err)
	}
	gv, err := schema.ParseGroupVersion(logOpts.GroupVersionString)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("--audit-log-version: %w", err)
	}
	var log audit.Backend
	if logOpts.Format == pluginlog.FormatJson {
		log = logbackend.NewBackend(file, gv) // the library's lines, with no copy of large objects
	} else {
		log = pluginlog.NewBackend(file, logOpts.Format, gv)
	}
	log = withBatchMode(log, logOpts.BatchOptions)
	if logOpts.TruncateOptions.Enabled {
		log = plugintruncate.NewBackend(log, logOpts.TruncateOptions.TruncateConfig, gv)
	}
	if c.AuditBackend == nil {
		c.AuditBackend = log
	} else {
		c.AuditBackend = audit.Union(log, c.AuditBackend)
	}
	return file, nil
}

// withBatchMode is the library's AuditBatchOptions.wrapBackend.
func withBatchMode(b audit.Backend, o genericoptions.AuditBatchOptions) audit.Backend {
	switch o.Mode {
	case genericoptions.ModeBlockingStrict:
		return b
	case genericoptions.ModeBlocking:
		return ignoreErrors{b}
	default:
		return pluginbuffered.NewBackend(b, o.BatchConfig)
	}
}

// ignoreErrors is the library's blocking mode: a failed write is counted
// and logged by the backend, and the request goes on.
type ignoreErrors struct{ audit.Backend }

func (i ignoreErrors) ProcessEvents(ev ...*auditinternal.Event) bool {
	i.Backend.ProcessEvents(ev...)
	return true
}

func (i ignoreErrors) String() string { return fmt.Sprintf("ignoreErrors<%s>", i.Backend) }
