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
// it reads a rotated set (the rotated files, then the active log), and the
// memory it keeps per 100,000 requests, at Metadata and at
// RequestResponse (a pod in each request and response).
func consoleRead(work string) {
	say("## The console on a rotated log set (in process: `console.FollowLogs` into a store of 100,000 requests)\n")
	say("Four files of %d MiB each (three rotated, the active log last), every request two events (RequestReceived, ResponseComplete).\n", *consoleReadMiB/4)
	say("| level | bytes | events | read in | MB/s | events/s | heap kept per 100,000 requests |")
	say("|---|---|---|---|---|---|---|")
	for _, level := range []auditv1.Level{auditv1.LevelMetadata, auditv1.LevelRequestResponse} {
		dir := filepath.Join(work, "consoleread-"+string(level))
		check(os.MkdirAll(dir, 0o700))
		size, events := writeLogSet(dir, level, int64(*consoleReadMiB)<<20)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		store := console.NewStore(100_000)
		ctx, cancel := context.WithCancel(context.Background())
		t0 := time.Now()
		done := make(chan error, 1)
		go func() {
			done <- console.FollowLogs(ctx, store, []string{filepath.Join(dir, "audit.log")}, 50*time.Millisecond)
		}()
		// The figure: when the store holds every event, polled.
		tick := time.NewTicker(20 * time.Millisecond)
		for store.Query(console.Query{Limit: 1}).Stats.Events < int64(events) {
			select {
			case err := <-done:
				check(fmt.Errorf("the console stopped reading at %d of %d events: %v", store.Query(console.Query{Limit: 1}).Stats.Events, events, err))
			case <-tick.C:
			}
		}
		tick.Stop()
		took := time.Since(t0)
		cancel()
		check(<-done)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		kept := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		requests := min(events/2, 100_000)
		say("| %s | %.0f MiB | %d | %s | %.0f | %.0f | %.0f MiB |", level, float64(size)/(1<<20), events, took.Round(time.Millisecond),
			float64(size)/1e6/took.Seconds(), float64(events)/took.Seconds(), kept/float64(requests)*100_000/(1<<20))
		runtime.KeepAlive(store)
		check(os.RemoveAll(dir))
	}
	say("")
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
