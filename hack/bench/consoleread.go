package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/console"
)

// consoleRead measures what the console does with a day of logs: how fast
// it reads a rotated set (the rotated files, then the active log), the
// memory it keeps per 100,000 requests, at Metadata and at
// RequestResponse (a pod in each request and response), and, opened on a
// gigabyte, how soon its first rows show and its store is full.
func consoleRead(work string) {
	say("## The console on a rotated log set (in process: `console.FollowLogs` into a store)\n")
	say("Four files (three rotated, the active log last), every request two events (RequestReceived, ResponseComplete); %d cores.\n", runtime.GOMAXPROCS(0))
	say("Reading: %d MiB into a store that keeps every request.\n", *consoleReadMiB)
	say("| level | bytes | events | read in | MB/s | events/s | heap kept per 100,000 requests |")
	say("|---|---|---|---|---|---|---|")
	for _, level := range []auditv1.Level{auditv1.LevelMetadata, auditv1.LevelRequestResponse} {
		withLogSet(work, "consoleread", level, *consoleReadMiB, func(dir string, size int64, events int) {
			o := openConsole(dir, events/2)
			o.waitRead()
			kept := o.close()
			say("| %s | %.0f MiB | %d | %s | %.0f | %.0f | %.0f MiB |", level, float64(size)/(1<<20), events, o.read.Round(time.Millisecond),
				float64(size)/1e6/o.read.Seconds(), float64(events)/o.read.Seconds(), kept/float64(events/2)*100_000/(1<<20))
		})
	}
	say("")
	say("Opening %d MiB with `--max-requests`' default (%d): the newest first, the past read back until the store is full.\n", *consoleOpenMiB, console.DefaultCapacity)
	say("| level | bytes | first rows after | store full after | read of it | heap kept |")
	say("|---|---|---|---|---|---|")
	for _, level := range []auditv1.Level{auditv1.LevelMetadata, auditv1.LevelRequestResponse} {
		withLogSet(work, "consoleopen", level, *consoleOpenMiB, func(dir string, size int64, _ int) {
			o := openConsole(dir, console.DefaultCapacity)
			o.waitRead()
			st := o.store.Stats()
			kept := o.close()
			say("| %s | %.0f MiB | %s | %s | %.0f MiB (%d requests) | %.0f MiB |", level, float64(size)/(1<<20), o.firstRows.Round(time.Millisecond),
				o.read.Round(time.Millisecond), float64(size-st.Unread)/(1<<20), st.Requests, kept/(1<<20))
		})
	}
	say("")
}

// withLogSet writes a rotated set of mib MiB at level (writeLogSet) into
// a directory of work, runs f on it and removes it.
func withLogSet(work, name string, level auditv1.Level, mib int, f func(dir string, size int64, events int)) {
	dir := filepath.Join(work, name+"-"+string(level))
	check(os.MkdirAll(dir, 0o700))
	size, events := writeLogSet(dir, level, int64(mib)<<20)
	f(dir, size, events)
	check(os.RemoveAll(dir))
}

// openedConsole is a console reading a log set in process.
type openedConsole struct {
	store           *console.Store
	before          runtime.MemStats
	cancel          context.CancelFunc
	done            chan error
	t0              time.Time
	firstRows, read time.Duration
}

func openConsole(dir string, capacity int) *openedConsole {
	o := &openedConsole{done: make(chan error, 1)}
	runtime.GC()
	runtime.ReadMemStats(&o.before)
	o.store = console.NewStore(capacity)
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	t0 := time.Now()
	go func() {
		o.done <- console.FollowLogs(ctx, o.store, []string{filepath.Join(dir, "audit.log")}, 50*time.Millisecond)
	}()
	// Polled often: the page's first query could come as soon.
	for len(o.store.Query(console.Query{Limit: 1}).Rows) == 0 {
		o.alive()
		time.Sleep(time.Millisecond)
	}
	o.firstRows = time.Since(t0)
	o.t0 = t0
	return o
}

// waitRead waits for the past to be read (or left, the store full).
func (o *openedConsole) waitRead() {
	for o.store.Stats().Backlog > 0 {
		o.alive()
		time.Sleep(5 * time.Millisecond)
	}
	o.read = time.Since(o.t0)
}

func (o *openedConsole) alive() {
	select {
	case err := <-o.done:
		check(fmt.Errorf("the console stopped reading: %v", err))
	default:
	}
}

// close stops the console and returns the heap its store keeps.
func (o *openedConsole) close() (kept float64) {
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(o.store)
	o.cancel()
	check(<-o.done)
	return float64(after.HeapAlloc) - float64(o.before.HeapAlloc)
}

// writeLogSet writes about total bytes of audit events at level as
// audit.log.3, .2, .1 and audit.log (logrotate's names, oldest first).
func writeLogSet(dir string, level auditv1.Level, total int64) (size int64, events int) {
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"load","labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}],"restartPolicy":"Always"}}`)
	t := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	n := 0
	for i, name := range []string{"audit.log.3", "audit.log.2", "audit.log.1", "audit.log"} {
		f, err := os.Create(filepath.Join(dir, name))
		check(err)
		var written int64
		buf := make([]byte, 0, 1<<20)
		for written < total/4 {
			id := fmt.Sprintf("00000000-0000-0000-%04d-%012d", i, n)
			at := metav1.NewMicroTime(t.Add(time.Duration(n) * time.Millisecond))
			e := auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"}, AuditID: types.UID(id), Level: level,
				Stage: auditv1.StageRequestReceived, Verb: "create", RequestURI: "/api/v1/namespaces/load/pods", UserAgent: "kubectl/v1.37.2 (linux/amd64)",
				User: authnv1.UserInfo{Username: "loader", Groups: []string{"system:authenticated"}}, SourceIPs: []string{"127.0.0.1"},
				ObjectRef: &auditv1.ObjectReference{Resource: "pods", Namespace: "load", APIVersion: "v1"}, RequestReceivedTimestamp: at, StageTimestamp: at}
			if level == auditv1.LevelRequestResponse {
				e.RequestObject = &kruntime.Unknown{Raw: pod}
			}
			line, err := json.Marshal(e)
			check(err)
			buf = append(append(buf, line...), '\n')
			e.Stage, e.ResponseStatus = auditv1.StageResponseComplete, &metav1.Status{Code: 201}
			e.StageTimestamp = metav1.NewMicroTime(at.Add(3 * time.Millisecond))
			e.ObjectRef.Name = "web"
			e.Annotations = map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
			if level == auditv1.LevelRequestResponse {
				e.ResponseObject = &kruntime.Unknown{Raw: pod}
			}
			line, err = json.Marshal(e)
			check(err)
			buf = append(append(buf, line...), '\n')
			n++
			events += 2
			if len(buf) >= 1<<20 {
				check(writeAll(f, buf))
				written += int64(len(buf))
				buf = buf[:0]
			}
		}
		check(writeAll(f, buf))
		written += int64(len(buf))
		check(f.Close())
		size += written
		// logrotate's order: the oldest file is the least recently changed.
		mtime := t.Add(time.Duration(i) * time.Hour)
		check(os.Chtimes(filepath.Join(dir, name), mtime, mtime))
	}
	return size, events
}

func writeAll(f *os.File, b []byte) error {
	_, err := f.Write(b)
	return err
}
