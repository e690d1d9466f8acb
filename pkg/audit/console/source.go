package console

import (
	"context"
	"fmt"
	"os"
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
		add(store, evs, problems)
	}
	return logview.Follow(ctx, path, interval, func(evs []logview.Located, problems []logview.Problem) {
		add(store, evs, problems)
	})
}

func add(store *Store, located []logview.Located, problems []logview.Problem) {
	evs := make([]auditv1.Event, len(located))
	for i := range located {
		evs[i] = located[i].Event
	}
	store.Add(evs...)
	for _, p := range problems {
		store.Problem(p.String())
	}
}
