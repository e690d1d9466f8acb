package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
)

// The audit log under the tools around it: each case changes the file
// under a running server while pods are created from several clients, then
// counts every event in every file against what the server generated.

// podLoad creates pods from a few workers until stopped.
type podLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	created atomic.Int64
	err     atomic.Pointer[error]
}

// loads numbers the loads, so that two loads in one namespace create
// different pods.
var loads atomic.Int64

func startPodLoad(t *testing.T, client kubernetes.Interface, ns string) *podLoad {
	t.Helper()
	l := &podLoad{stop: make(chan struct{})}
	gen := loads.Add(1)
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				pod := newPod(ns, fmt.Sprintf("load-%d-%d-%d", gen, w, i))
				if _, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					l.err.CompareAndSwap(nil, &err)
					return
				}
				l.created.Add(1)
			}
		}()
	}
	t.Cleanup(l.Stop)
	return l
}

// waitCreated waits until n more pods were created.
func (l *podLoad) waitCreated(t *testing.T, n int64) {
	t.Helper()
	target := l.created.Load() + n
	eventually(t, waitLong, fmt.Sprintf("%d pods created under load", target), func() (bool, error) {
		if err := l.err.Load(); err != nil {
			return false, *err
		}
		return l.created.Load() >= target, nil
	})
}

func (l *podLoad) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// logEvents reads every file in dir (rotated, renamed, .gz) and fails on
// any line that is not an audit event.
func logEvents(t *testing.T, dir string) []logview.Located {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, f := range files {
		if info, err := os.Stat(f); err == nil && info.Mode().IsRegular() && !strings.HasSuffix(f, ".state") && !strings.HasSuffix(f, ".conf") {
			logs = append(logs, f)
		}
	}
	events, problems, err := logview.ReadFiles(logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("a line of the audit logs does not parse: %s", p)
	}
	seen := map[string]bool{}
	for _, e := range events {
		key := string(e.AuditID) + "/" + string(e.Stage)
		if seen[key] {
			t.Errorf("event %s is in the logs twice (%s:%d)", key, e.File, e.Line)
		}
		seen[key] = true
	}
	return events
}

// auditLogServer starts a server logging pods of "default" at
// RequestResponse into its own directory, with the given extra flags.
func auditLogServer(t *testing.T, flags ...string) (s *apiServer, dir, log string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "audit")
	log = filepath.Join(dir, "audit.log")
	args := append([]string{"--audit-policy-file=" + writePolicy(t, nsPolicy("default", auditv1.LevelRequestResponse)),
		"--audit-log-path=" + log, "--audit-log-mode=blocking"}, flags...)
	return startServer(t, args...), dir, log
}

// accountFor waits until the events in dir plus the counted loss equal what
// the server generated, and fails if they do not become equal.
func accountFor(t *testing.T, s *apiServer, dir string) (inFiles, lost float64) {
	t.Helper()
	var generated float64
	eventually(t, waitShort, "every generated event to be in the logs or counted as lost", func() (bool, error) {
		m, err := s.Metrics(context.Background())
		if err != nil {
			return false, err
		}
		generated, lost = m.Value("apiserver_audit_event_total"), m.Value("apiserver_audit_log_deleted_events_total")
		inFiles = float64(len(logEvents(t, dir)))
		return inFiles+lost == generated, nil
	})
	if generated == 0 {
		t.Fatal("the server generated no events")
	}
	return inFiles, lost
}

func TestAuditLogSurvivesItsTools(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		flags []string
		// change changes the log under the server and returns whether the
		// events written into it before are lost (deleted).
		change func(t *testing.T, dir, log string) (deleted bool)
		// reason is the reopens_total reason the server counts.
		reason string
	}{
		{name: "mv", change: func(t *testing.T, dir, log string) bool {
			mustDo(t, os.Rename(log, log+".moved"))
			return false
		}, reason: "renamed"},
		{name: "rm", change: func(t *testing.T, dir, log string) bool {
			mustDo(t, os.Remove(log))
			return true
		}, reason: "deleted"},
		{name: "rm -r directory", change: func(t *testing.T, dir, log string) bool {
			mustDo(t, os.RemoveAll(dir))
			return true
		}, reason: "deleted"},
		{name: "mv with built-in rotation", flags: []string{"--audit-log-maxsize=1", "--audit-log-maxbackup=10"},
			change: func(t *testing.T, dir, log string) bool {
				mustDo(t, os.Rename(log, log+".moved"))
				return false
			}, reason: "renamed"},
		{name: "rm with built-in rotation", flags: []string{"--audit-log-maxsize=1", "--audit-log-maxbackup=10"},
			change: func(t *testing.T, dir, log string) bool {
				mustDo(t, os.Remove(log))
				return true
			}, reason: "deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, dir, log := auditLogServer(t, append([]string{"--audit-log-maxsize=0"}, tc.flags...)...)
			load := startPodLoad(t, s.Client(), "default")
			load.waitCreated(t, 50)
			deleted := tc.change(t, dir, log)
			load.waitCreated(t, 50)
			if hasFlag(tc.flags, "--audit-log-maxsize") {
				// Enough for lumberjack to rotate (1 MB) after the change.
				eventually(t, waitLong, "a built-in rotation", func() (bool, error) {
					backups, err := filepath.Glob(filepath.Join(dir, "audit-*.log"))
					return len(backups) > 0, err
				})
			}
			load.Stop()

			inFiles, lost := accountFor(t, s, dir)
			if !deleted && lost != 0 {
				t.Errorf("%v events counted as lost when nothing was deleted", lost)
			}
			if deleted {
				if lost == 0 {
					t.Errorf("the events of the deleted file were not counted as lost")
				}
				msg := fmt.Sprintf("audit log %s was deleted; %d events written to the deleted file are lost; reopened", log, int(lost))
				if !strings.Contains(s.Stderr(), msg) {
					t.Errorf("server log does not say %q", msg)
				}
				if got := metric(t, s, `apiserver_audit_error_total{plugin="log"}`); got != lost {
					t.Errorf("apiserver_audit_error_total{plugin=\"log\"} = %v, want the %v lost events", got, lost)
				}
			}
			if got := metric(t, s, fmt.Sprintf(`apiserver_audit_log_reopens_total{reason=%q}`, tc.reason)); got < 1 {
				t.Errorf("apiserver_audit_log_reopens_total{reason=%q} = %v, want the change counted", tc.reason, got)
			}
			if got := fileMode(t, log); got != 0o600 {
				t.Errorf("reopened log mode %v, want 0600", got)
			}
			if got := fileMode(t, dir); got != 0o700 {
				t.Errorf("log directory mode %v, want 0700", got)
			}
			t.Logf("%d pods, %v events in the files, %v lost with a deleted file", load.created.Load(), inFiles, lost)
		})
	}
}

// A log the server cannot reopen (its directory replaced by a file): with
// blocking-strict every request fails, each event is counted, and the error
// is logged once for the burst; the server recovers when it can write.
func TestAuditLogUnwritableBlockingStrict(t *testing.T) {
	t.Parallel()
	s, dir, _ := auditLogServer(t, "--audit-log-mode=blocking-strict", "--audit-log-maxsize=0")
	pods := s.Client().CoreV1().Pods("default")
	ctx := context.Background()
	if _, err := pods.Create(ctx, newPod("default", "before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Counted before the change: the idle check may notice it at once.
	m, err := s.Metrics(ctx)
	mustDo(t, err)
	errorsBefore, eventsBefore := m.Value(`apiserver_audit_error_total{plugin="log"}`), m.Value("apiserver_audit_event_total")
	deletedBefore := m.Value("apiserver_audit_log_deleted_events_total")
	mustDo(t, os.RemoveAll(dir))
	mustDo(t, os.WriteFile(dir, []byte("in the way\n"), 0o600))
	const failing = 3
	for i := range failing {
		_, err := pods.Create(ctx, newPod("default", fmt.Sprintf("unwritable-%d", i)), metav1.CreateOptions{})
		if !apierrors.IsInternalError(err) {
			t.Fatalf("create %d with an unwritable log in blocking-strict mode: %v, want an internal error", i, err)
		}
	}
	m, err = s.Metrics(ctx)
	mustDo(t, err)
	errs, generated := m.Value(`apiserver_audit_error_total{plugin="log"}`)-errorsBefore, m.Value("apiserver_audit_event_total")-eventsBefore
	// The 2 events of the create before went with the directory.
	if deleted := m.Value("apiserver_audit_log_deleted_events_total") - deletedBefore; deleted != 2 {
		t.Errorf("apiserver_audit_log_deleted_events_total moved by %v, want the 2 events of the removed directory's log", deleted)
	}
	if errs != generated+2 || generated < failing {
		t.Errorf("apiserver_audit_error_total{plugin=\"log\"} moved by %v for %v events of %d failed requests and 2 deleted, want every one counted", errs, generated, failing)
	}
	if got := strings.Count(s.Stderr(), "Audit log cannot be written"); got != 1 {
		t.Errorf("the unwritable log was reported %d times in the server log, want once for the burst", got)
	}
	mustDo(t, os.Remove(dir))
	if _, err := pods.Create(ctx, newPod("default", "after"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create once the directory can be recreated: %v", err)
	}
	eventually(t, waitShort, "the recovery to be logged", func() (bool, error) {
		return strings.Contains(s.Stderr(), "Audit log is written again"), nil
	})
	if n := len(logEvents(t, dir)); n != 2 {
		t.Errorf("recreated log holds %d events, want the 2 of the create after", n)
	}
}

// The real logrotate, forced every half second under load.
func TestAuditLogLogrotate(t *testing.T) {
	t.Parallel()
	logrotate, err := exec.LookPath("logrotate")
	if err != nil {
		t.Fatalf("logrotate is not installed (hack/install-deps.sh installs it): %v", err)
	}
	for _, mode := range []string{"create", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s, dir, log := auditLogServer(t, "--audit-log-maxsize=0")
			conf := filepath.Join(dir, "audit.conf")
			mustDo(t, os.WriteFile(conf, []byte(logrotateConfig(log, mode)), 0o600))
			state := filepath.Join(dir, "logrotate.state")
			load := startPodLoad(t, s.Client(), "default")
			const rotations = 4
			for range rotations {
				load.waitCreated(t, 25)
				out, err := exec.Command(logrotate, "--force", "--state", state, conf).CombinedOutput()
				if err != nil {
					t.Fatalf("logrotate: %v\n%s", err, out)
				}
			}
			load.waitCreated(t, 25)
			load.Stop()
			rotated, _ := filepath.Glob(log + ".*")
			if len(rotated) < rotations {
				t.Fatalf("logrotate left %v, want %d rotated files", rotated, rotations)
			}
			// Every event is in the files exactly once, and every line parses;
			// with copytruncate too, where what is written between logrotate's
			// copy and its truncate is written again by the server.
			if _, lost := accountFor(t, s, dir); lost != 0 {
				t.Errorf("%v events lost with logrotate's %s mode", lost, mode)
			}
			reason := map[string]string{"create": "renamed", "copytruncate": "truncated"}[mode]
			if got := metric(t, s, fmt.Sprintf(`apiserver_audit_log_reopens_total{reason=%q}`, reason)); got < rotations {
				t.Errorf("apiserver_audit_log_reopens_total{reason=%q} = %v, want %d", reason, got, rotations)
			}
		})
	}
}

// logrotateConfig is the configuration docs/audit.md shows, with the mode
// (create or copytruncate) given.
func logrotateConfig(log, mode string) string {
	if mode == "create" {
		mode = "create 0600"
	}
	return fmt.Sprintf("%s {\n  rotate 10\n  %s\n  compress\n  delaycompress\n  missingok\n  notifempty\n}\n", log, mode)
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
