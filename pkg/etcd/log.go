package etcd

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newQuietLogger logs etcd's errors to stderr, less two that are not errors
// for a single embedded member: the storage-version probe that fails until
// the first raft term is written on a fresh data directory, and the
// listeners' "closed" errors at shutdown.
func newQuietLogger() (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	cfg.DisableStacktrace = true
	cfg.Sampling = nil
	return cfg.Build(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return quietCore{c} }))
}

type quietCore struct{ zapcore.Core }

func (q quietCore) With(fields []zapcore.Field) zapcore.Core { return quietCore{q.Core.With(fields)} }

func (q quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if q.Enabled(e.Level) {
		return ce.AddCore(e, q)
	}
	return ce
}

func (q quietCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if e.Message == "failed to update storage version" {
		return nil
	}
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && isShutdownNoise(err.Error()) {
			return nil
		}
	}
	return q.Core.Write(e, fields)
}

func isShutdownNoise(msg string) bool {
	return strings.Contains(msg, "use of closed network connection") || strings.HasSuffix(msg, "server closed") ||
		strings.HasSuffix(msg, "Server closed")
}
