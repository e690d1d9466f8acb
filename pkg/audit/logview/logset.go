package logview

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// LogSet lists an audit log's rotated files and the log itself, oldest
// first (by modification time, the active log last): built-in rotation's
// audit-2026-12-01T00-00-00.000.log[.gz] and logrotate's audit.log.1,
// audit.log.2.gz, audit.log-20261201. auditctl ship and console read them
// in this order before following the log.
func LogSet(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	type file struct {
		path string
		mod  time.Time
	}
	var rotated []file
	for _, e := range entries {
		name := e.Name()
		if name == base || !e.Type().IsRegular() {
			continue
		}
		// logrotate: audit.log.1, audit.log.2.gz, audit.log-20261201;
		// built-in rotation: audit-2026-12-01T00-00-00.000.log[.gz].
		if !strings.HasPrefix(name, base) && !strings.HasPrefix(name, stem+"-") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		rotated = append(rotated, file{filepath.Join(dir, name), info.ModTime()})
	}
	sort.Slice(rotated, func(i, j int) bool { return rotated[i].mod.Before(rotated[j].mod) })
	out := make([]string, 0, len(rotated)+1)
	for _, f := range rotated {
		out = append(out, f.path)
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	}
	return out, nil
}
