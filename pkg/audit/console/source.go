package console

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
)

// FollowLog fills the store from an audit log: its rotated files (and
// .gz backups) oldest first, then the log from its start, following new
// lines across rotations, renames, deletions and copytruncate as
// auditctl view --follow does, until ctx is done. Lines that are not audit
// events are counted, not hidden.
func FollowLog(ctx context.Context, store *Store, path string, interval time.Duration) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	set, err := logview.LogSet(path)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if rotated := set[:len(set)-1]; len(rotated) > 0 {
		evs, problems, err := logview.ReadFiles(rotated, nil)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		addFrom(store, "", evs, problems)
	}
	return logview.Follow(ctx, path, interval, func(evs []logview.Located, problems []logview.Problem) {
		addFrom(store, "", evs, problems)
	})
}

// addFrom adds events of log (or, with log "", of the one log).
func addFrom(store *Store, log string, located []logview.Located, problems []logview.Problem) {
	evs := make([]auditv1.Event, len(located))
	for i := range located {
		evs[i] = located[i].Event
	}
	store.AddFrom(log, evs...)
	for _, p := range problems {
		store.Problem(p.String())
	}
}

// FollowLogs fills the store from the logs of several servers, each row
// naming its log: what they held when opened (rotated files and the logs)
// merged in time order, then each log followed as FollowLog follows one,
// until ctx is done or one of them fails. One log is FollowLog.
func FollowLogs(ctx context.Context, store *Store, paths []string, interval time.Duration) error {
	if len(paths) == 1 {
		return FollowLog(ctx, store, paths[0], interval)
	}
	m := &merger{store: store, waiting: len(paths)}
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("console: %w", err)
		}
		set, err := logview.LogSet(path)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		evs, problems, err := logview.ReadFiles(set[:len(set)-1], nil)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		m.emit(path, evs, problems)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(paths))
	for _, path := range paths {
		go func() {
			errs <- logview.FollowReady(ctx, path, interval, func(evs []logview.Located, problems []logview.Problem) { m.emit(path, evs, problems) }, m.ready)
		}()
	}
	var first error
	for range paths {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("console: %w", err)
			cancel()
		}
	}
	return first
}

// merger holds the events of several logs until each log's backlog is
// read, adds them in time order, then passes each log's new events on.
type merger struct {
	mu      sync.Mutex
	store   *Store
	waiting int // logs whose backlog is not read yet
	held    []heldEvent
}

type heldEvent struct {
	log string
	logview.Located
}

func (m *merger) emit(log string, evs []logview.Located, problems []logview.Problem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range problems {
		m.store.Problem(p.String())
	}
	if m.waiting == 0 {
		addFrom(m.store, log, evs, nil)
		return
	}
	for _, e := range evs {
		m.held = append(m.held, heldEvent{log, e})
	}
}

func (m *merger) ready() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.waiting--; m.waiting > 0 {
		return
	}
	sort.SliceStable(m.held, func(i, j int) bool { return m.held[i].StageTimestamp.Before(&m.held[j].StageTimestamp) })
	// In runs of one log, to add in few calls.
	for start := 0; start < len(m.held); {
		end := start
		var run []logview.Located
		for end < len(m.held) && m.held[end].log == m.held[start].log {
			run = append(run, m.held[end].Located)
			end++
		}
		addFrom(m.store, m.held[start].log, run, nil)
		start = end
	}
	m.held = nil
}
