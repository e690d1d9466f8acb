package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
)

// nsPolicy audits pods in one namespace at level, and nothing else, so
// tests can count events exactly.
func nsPolicy(ns string, level auditv1.Level) string {
	return fmt.Sprintf("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: %s\n  namespaces: [%q]\n  resources: [{group: \"\", resources: [pods]}]\n- level: None\n", level, ns)
}

// createPods creates n pods in ns from `workers` goroutines; each pod
// carries an annotation of padding bytes to make its audit events large.
func createPods(t *testing.T, client kubernetes.Interface, ns string, n, workers, padding int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pod := newPod(ns, fmt.Sprintf("pod-%04d", i))
				pod.Annotations = map[string]string{"padding": strings.Repeat("x", padding)}
				if _, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

var backupName = regexp.MustCompile(`^audit-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log(\.gz)?$`)

// logFiles lists the active log and its backups in dir.
func logFiles(t *testing.T, dir string) (active string, backups []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case e.Name() == "audit.log":
			active = filepath.Join(dir, e.Name())
		case backupName.MatchString(e.Name()):
			backups = append(backups, filepath.Join(dir, e.Name()))
		default:
			t.Errorf("unexpected file in the audit log directory: %s", e.Name())
		}
	}
	sort.Strings(backups)
	return active, backups
}

// readAllEvents parses the active log and every backup (gunzipping .gz);
// any line that is not an event fails the test.
func readAllEvents(t *testing.T, files []string) []auditv1.Event {
	t.Helper()
	located, problems, err := logview.ReadFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("torn or foreign line: %s", p)
	}
	events := make([]auditv1.Event, len(located))
	for i := range located {
		events[i] = located[i].Event
	}
	return events
}

func TestAuditLogRotationUnderLoad(t *testing.T) {
	t.Parallel()
	const requests, workers, padding = 500, 8, 8 << 10
	const listers, listsEach, listed = 4, 2, 60
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%t", compress), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "audit")
			s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("rot", auditv1.LevelRequestResponse)),
				"--audit-log-path="+filepath.Join(dir, "audit.log"), "--audit-log-maxsize=1", fmt.Sprintf("--audit-log-compress=%t", compress))
			client := s.Client()
			createNamespace(t, client, "rot")
			createPods(t, client, "rot", requests, workers, padding)
			// Lists of half a MiB each, their lines written around the
			// response (not built whole), in parallel: each is rotated as
			// a whole into a file of 1 MiB.
			var lists sync.WaitGroup
			for range listers {
				lists.Go(func() {
					for range listsEach {
						if _, err := client.CoreV1().Pods("rot").List(context.Background(), metav1.ListOptions{Limit: listed}); err != nil {
							t.Error(err)
						}
					}
				})
			}
			lists.Wait()
			if err := s.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			var active string
			var backups []string
			eventually(t, 30*time.Second, "compression of every backup", func() (bool, error) {
				active, backups = logFiles(t, dir)
				for _, b := range backups {
					if compress != strings.HasSuffix(b, ".gz") {
						return false, fmt.Errorf("backup %s", b)
					}
				}
				return true, nil
			})
			if len(backups) < 3 {
				t.Fatalf("%d rotations, want at least 3 (files %v)", len(backups), backups)
			}
			if fileMode(t, active) != 0o600 || fileMode(t, dir) != 0o700 {
				t.Errorf("modes: log %o dir %o", fileMode(t, active), fileMode(t, dir))
			}
			for _, b := range backups {
				if fileMode(t, b) != 0o600 {
					t.Errorf("backup %s mode %o", b, fileMode(t, b))
				}
			}
			if out, err := exec.Command(auditctlBin, append([]string{"verify"}, append(backups, active)...)...).CombinedOutput(); err != nil {
				t.Errorf("auditctl verify after %d rotations: %v\n%s", len(backups), err, out)
			}
			events := readAllEvents(t, append(backups, active))
			seen := map[string]bool{}
			listedIn := 0
			for _, e := range events {
				key := string(e.AuditID) + "/" + string(e.Stage)
				if seen[key] {
					t.Errorf("event %s written twice", key)
				}
				seen[key] = true
				if e.Verb == "list" && e.Stage == auditv1.StageResponseComplete {
					var list corev1.PodList
					if err := json.Unmarshal(e.ResponseObject.Raw, &list); err != nil || len(list.Items) != listed {
						t.Errorf("list %s: response of %d pods (%v), want %d", e.AuditID, len(list.Items), err, listed)
					}
					listedIn++
				}
			}
			if want := 2 * (requests + listers*listsEach); len(events) != want || listedIn != listers*listsEach {
				t.Errorf("%d events across %d files (%d lists), want %d (RequestReceived and ResponseComplete of %d creates and %d lists)",
					len(events), len(backups)+1, listedIn, want, requests, listers*listsEach)
			}
		})
	}
}

func TestAuditLogMaxBackupAndMaxAge(t *testing.T) {
	t.Parallel()
	t.Run("maxbackup", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "audit")
		s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("rot", auditv1.LevelRequestResponse)),
			"--audit-log-path="+filepath.Join(dir, "audit.log"), "--audit-log-maxsize=1", "--audit-log-maxbackup=2")
		createNamespace(t, s.Client(), "rot")
		createPods(t, s.Client(), "rot", 250, 4, 8<<10)
		eventually(t, 30*time.Second, "exactly 2 backups", func() (bool, error) {
			_, backups := logFiles(t, dir)
			return len(backups) == 2, fmt.Errorf("backups %v", backups)
		})
	})
	t.Run("maxage", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "audit")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		recent := "audit-" + time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15-04-05.000") + ".log"
		old := []string{"audit-2020-01-01T00-00-00.000.log", "audit-2020-01-02T00-00-00.000.log.gz"}
		for _, name := range append(old, recent) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("{}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("default", auditv1.LevelMetadata)),
			"--audit-log-path="+filepath.Join(dir, "audit.log"), "--audit-log-maxsize=1", "--audit-log-maxage=1")
		if _, err := s.Client().CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "backups older than a day to be removed", func() (bool, error) {
			for _, name := range old {
				if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
					return false, fmt.Errorf("%s still there", name)
				}
			}
			return true, nil
		})
		if _, err := os.Stat(filepath.Join(dir, recent)); err != nil {
			t.Errorf("a backup younger than maxage was removed: %v", err)
		}
	})
	t.Run("maxsize=0 never rotates", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "audit")
		s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("rot", auditv1.LevelRequestResponse)),
			"--audit-log-path="+filepath.Join(dir, "audit.log"), "--audit-log-maxsize=0")
		createNamespace(t, s.Client(), "rot")
		createPods(t, s.Client(), "rot", 150, 4, 8<<10)
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		active, backups := logFiles(t, dir)
		if len(backups) != 0 {
			t.Errorf("backups with maxsize=0: %v", backups)
		}
		if st, _ := os.Stat(active); st.Size() < 1<<20 {
			t.Errorf("log is %d bytes, want more than 1 MB in one file", st.Size())
		}
		if events := readAllEvents(t, []string{active}); len(events) != 300 {
			t.Errorf("%d events, want 300", len(events))
		}
	})
}

func TestAuditLogFormatsAndStdout(t *testing.T) {
	t.Parallel()
	policy := writePolicy(t, nsPolicy("default", auditv1.LevelMetadata))
	t.Run("legacy", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "audit.log")
		s := startServer(t, "--audit-policy-file="+policy, "--audit-log-path="+path, "--audit-log-format=legacy")
		if _, err := s.Client().CoreV1().Pods("default").Create(context.Background(), newPod("default", "legacy"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		line := regexp.MustCompile(`(?m)^\d{4}-\d{2}-\d{2}T[\d:.]+Z AUDIT: id="[0-9a-f-]+" stage="ResponseComplete" ip="127\.0\.0\.1" method="create" user="kubernetes-admin" groups="\\"system:masters\\",\\"system:authenticated\\"" as="<self>" asgroups="<lookup>" user-agent="[^"]*" namespace="default" uri="/api/v1/namespaces/default/pods" response="201"$`)
		eventually(t, 30*time.Second, "a legacy-format line", func() (bool, error) {
			data, err := os.ReadFile(path)
			return line.Match(data), fmt.Errorf("%v; log:\n%s", err, data)
		})
	})
	t.Run("json to stdout", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--audit-policy-file="+policy, "--audit-log-path=-")
		if _, err := s.Client().CoreV1().Pods("default").Create(context.Background(), newPod("default", "stdout"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want := []expect.Event{{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", RequestURI: "/api/v1/namespaces/default/pods",
			Code: 201, User: "kubernetes-admin", Resource: "pods", Namespace: "default", AuthorizeDecision: "allow"}}
		waitForEvents(t, func() ([]auditv1.Event, error) {
			var events []auditv1.Event
			for _, line := range strings.Split(s.Stdout(), "\n") {
				if strings.HasPrefix(line, "{") {
					e, err := expect.ReadLines(strings.NewReader(line))
					if err != nil {
						return nil, err
					}
					events = append(events, e...)
				}
			}
			return events, nil
		}, want)
	})
	t.Run("batch mode flushes on shutdown", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "audit.log")
		s := startServer(t, "--audit-policy-file="+writePolicy(t, nsPolicy("b", auditv1.LevelMetadata)), "--audit-log-path="+path,
			"--audit-log-mode=batch", "--audit-log-batch-max-wait=1h", "--audit-log-batch-max-size=100000", "--audit-log-batch-buffer-size=100000")
		createNamespace(t, s.Client(), "b")
		createPods(t, s.Client(), "b", 50, 4, 0)
		if events := readAllEvents(t, []string{path}); len(events) != 0 {
			t.Fatalf("%d events written before shutdown; the batch should still hold them", len(events))
		}
		if err := s.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if events := readAllEvents(t, []string{path}); len(events) != 100 {
			t.Errorf("%d events after shutdown, want 100", len(events))
		}
	})
}
