package e2e

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/expect"
)

// TestEvents: core/v1 and events.k8s.io/v1 events are one store, as in
// kube: what one API writes the other reads, each with its own validation
// and field selectors; kubectl's columns; the etcd key and encoding; the
// --event-ttl lease. The outputs and messages below were compared with
// kube-apiserver v1.37.2's for the same requests.
func TestEvents(t *testing.T) {
	t.Parallel()
	etcdURL := startEtcd(t).URL()
	log := t.TempDir() + "/audit.log"
	s := startServer(t, "--etcd-servers="+etcdURL, "--event-ttl=3s", "--audit-policy-file="+writePolicy(t, auditEverything), "--audit-log-path="+log)
	core, events := s.Client().CoreV1().Events("default"), s.Client().EventsV1().Events("default")
	ctx := context.Background()
	regarding := corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "default", APIVersion: "v1"}
	at := metav1.NewTime(time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC))

	if _, err := core.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1"}, InvolvedObject: regarding,
		Reason: "Scheduled", Message: "Successfully assigned default/web to node-1", Source: corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: at, LastTimestamp: at, Count: 1, Type: corev1.EventTypeNormal}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.2"}, EventTime: metav1.NewMicroTime(at.Time),
		ReportingController: "kubelet", ReportingInstance: "node-1", Action: "Pulling", Reason: "Pulling", Regarding: regarding,
		Note: "Pulling image busybox", Type: corev1.EventTypeNormal}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("one store, two APIs", func(t *testing.T) {
		v1, err := events.Get(ctx, "web.1", metav1.GetOptions{})
		if err != nil || v1.Note != "Successfully assigned default/web to node-1" || v1.DeprecatedSource.Component != "default-scheduler" ||
			v1.DeprecatedCount != 1 || !v1.DeprecatedFirstTimestamp.Equal(&at) || v1.Regarding != regarding {
			t.Errorf("core event read through events.k8s.io/v1: %v %+v", err, v1)
		}
		c, err := core.Get(ctx, "web.2", metav1.GetOptions{})
		if err != nil || c.Message != "Pulling image busybox" || c.ReportingController != "kubelet" || c.InvolvedObject != regarding || c.Action != "Pulling" {
			t.Errorf("events.k8s.io/v1 event read through core/v1: %v %+v", err, c)
		}
		if out := s.Kubectl("get", "events", "-o", "wide"); !regexpMatch(`^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+SUBOBJECT\s+SOURCE\s+MESSAGE\s+FIRST SEEN\s+COUNT\s+NAME\n`+
			`\S+\s+Normal\s+Scheduled\s+pod/web\s+default-scheduler\s+Successfully assigned default/web to node-1\s+\S+\s+1\s+web.1\n`+
			`\S+\s+Normal\s+Pulling\s+pod/web\s+kubelet, node-1\s+Pulling image busybox\s+\S+\s+1\s+web.2\n$`, out) {
			t.Errorf("kubectl get events -o wide:\n%s", out)
		}
		if out := s.Kubectl("get", "events", "--field-selector=reason=Pulling,involvedObject.name=web", "-o", "name"); out != "event/web.2\n" {
			t.Errorf("core field selector: %q", out)
		}
		if out := s.Kubectl("get", "events.events.k8s.io", "--field-selector=regarding.name=web,reportingController=kubelet", "-o", "name"); out != "event.events.k8s.io/web.2\n" {
			t.Errorf("events.k8s.io field selector: %q", out)
		}
		_, err = events.List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
		wantStatus(t, err, http.StatusBadRequest, `field label not supported: involvedObject.name`)
	})

	t.Run("validation by the request's version", func(t *testing.T) {
		_, err := events.Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, EventTime: metav1.NewMicroTime(at.Time),
			Regarding: regarding, Type: "Bad", DeprecatedCount: 3}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Event "bad" is invalid: [reportingController: Required value, `+
			`reportingController: Invalid value: "": name part must be non-empty, reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), `+
			`reportingInstance: Required value, action: Required value, reason: Required value, type: Invalid value: "": has invalid value: Bad, count: Invalid value: "": needs to be unset]`)
		// core/v1 takes what events.k8s.io/v1 refuses, but not an event in another namespace than its object's.
		_, err = core.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "loose"}, Type: "Bad"}, metav1.CreateOptions{})
		if err != nil {
			t.Errorf("core/v1 event with legacy rules only: %v", err)
		}
		_, err = core.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "other"}}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Event "elsewhere" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace`)
		_, err = core.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "new-style"}, InvolvedObject: regarding, EventTime: metav1.NewMicroTime(at.Time)}, metav1.CreateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Event "new-style" is invalid: [reportingComponent: Required value, `+
			`reportingComponent: Invalid value: "": name part must be non-empty, reportingComponent: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), `+
			`reportingInstance: Required value, action: Required value, reason: Required value]`)
		// An events.k8s.io/v1 update may add a series, not change what was observed.
		e, err := events.Get(ctx, "web.2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.Note = "changed"
		_, err = events.Update(ctx, e, metav1.UpdateOptions{})
		wantStatus(t, err, http.StatusUnprocessableEntity, `Event "web.2" is invalid: message: Invalid value: "changed": field is immutable`)
		e.Note, e.Series = "Pulling image busybox", &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(at.Add(time.Minute))}
		if _, err := events.Update(ctx, e, metav1.UpdateOptions{}); err != nil {
			t.Errorf("adding a series: %v", err)
		}
	})

	t.Run("stored as core/v1 protobuf under /registry/events with the ttl's lease", func(t *testing.T) {
		raw, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		for _, name := range []string{"web.1", "web.2"} {
			resp, err := raw.Get(ctx, "/registry/events/default/"+name)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("etcd key of %s: %v %v", name, err, resp)
			}
			kv := resp.Kvs[0]
			if !bytes.HasPrefix(kv.Value, []byte("k8s\x00\n\x0b\n\x02v1\x12\x05Event")) {
				t.Errorf("%s stored as %q, want core/v1 protobuf", name, kv.Value[:min(24, len(kv.Value))])
			}
			ttl, err := raw.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
			if err != nil || kv.Lease == 0 || ttl.GrantedTTL != 3 {
				t.Errorf("%s lease %d: %v granted %v, want 3 s (--event-ttl)", name, kv.Lease, err, ttl)
			}
		}
		eventually(t, waitLong, "events to expire after --event-ttl", func() (bool, error) {
			_, err := core.Get(ctx, "web.1", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})

	waitForEvents(t, logReader(log), []expect.Event{
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "create", Code: 201, User: "kubernetes-admin",
			Resource: "events", Namespace: "default", Name: "web.2", AuthorizeDecision: "allow",
			RequestURI: "/apis/events.k8s.io/v1/namespaces/default/events"},
		{Level: auditv1.LevelMetadata, Stage: auditv1.StageResponseComplete, Verb: "get", Code: 200, User: "kubernetes-admin",
			Resource: "events", Namespace: "default", Name: "web.2", AuthorizeDecision: "allow",
			RequestURI: "/api/v1/namespaces/default/events/web.2"},
	})
}
