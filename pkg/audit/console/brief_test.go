package console

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// The brief decoder reads what encoding/json reads into an auditv1.Event:
// escapes, nulls, impersonation, subresources, offsets in timestamps,
// names repeated, fields unknown; and refuses what it refuses.
func TestBriefDecodesAsEventsDo(t *testing.T) {
	for _, line := range []string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/pods/p/exec?command=sh\u0026stdin=true","verb":"create","user":{"username":"kubernetes-admin","uid":"x","groups":["kubeadm:cluster-admins","system:authenticated"],"extra":{"k":["v"]}},"impersonatedUser":{"username":"sys\"tem:serviceaccount:d:s","groups":["g"]},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.37.2","objectRef":{"resource":"pods","namespace":"d","name":"p","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"status":"Failure","code":403,"reason":"Forbidden"},"requestReceivedTimestamp":"2026-12-03T10:00:00.123456Z","stageTimestamp":"2026-12-03T12:00:00.500000+02:00","annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":"no \u003cRBAC\u003e","pod-security.kubernetes.io/enforce-policy":"restricted:latest"},"future":{"a":[1,2,{"b":null}]}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"None","auditID":"a2","stage":"RequestReceived","requestURI":"/healthz","verb":"get","user":{"username":"system:anonymous"},"impersonatedUser":null,"objectRef":null,"responseStatus":null,"annotations":null,"requestReceivedTimestamp":"2026-12-03T10:00:00.000001Z","stageTimestamp":null}`,
		`{"verb":"list","verb":"watch","kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a3","stage":"ResponseStarted","user":{"username":"ü"},"requestReceivedTimestamp":"2026-02-28T23:59:59.999999Z","stageTimestamp":"2026-03-01T00:00:00.000000Z"}`,
	} {
		want, err := events.DecodeEvent([]byte(line))
		if err != nil {
			t.Fatalf("the test's line: %v", err)
		}
		got, err := newBriefDecoder().decode([]byte(line))
		if err != nil {
			t.Errorf("%.60s: %v", line, err)
			continue
		}
		w := briefOf(&want)
		if fmt.Sprintf("%+v", normalized(got)) != fmt.Sprintf("%+v", normalized(w)) {
			t.Errorf("decoded\n%+v\nwant\n%+v", normalized(got), normalized(w))
		}
	}
	for line, msg := range map[string]string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"Resp`: "not valid JSON",
		`[1,2]`: "where an object belongs",
		`{"kind":"Pod","apiVersion":"v1","metadata":{}}`:                                                            "not an audit.k8s.io/v1 Event",
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete"}`:                                "not an audit.k8s.io/v1 Event",
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"X"} {"more":true}`:                   "more after the event",
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"X","responseStatus":{"code":"403"}}`: "responseStatus.code",
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"X","stageTimestamp":"yesterday"}`:    "cannot parse",
	} {
		_, err := newBriefDecoder().decode([]byte(line))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", line, err, msg)
		}
		if msg == "not valid JSON" && !errors.Is(err, errNotJSON) {
			t.Errorf("%s: %v is not errNotJSON", line, err)
		}
	}
}

// normalized puts a brief in a form to compare: times in UTC, notes
// sorted (a map's order is not a line's).
func normalized(b brief) brief {
	b.RequestReceivedTimestamp, b.StageTimestamp = b.RequestReceivedTimestamp.UTC(), b.StageTimestamp.UTC()
	notes := append([]string(nil), b.Notes...)
	slices.Sort(notes)
	b.Notes = notes
	return b
}
