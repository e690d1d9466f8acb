package events

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		line, wantErr string
		syntax        bool
	}{
		{line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","level":"Metadata"}`},
		{line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"`, wantErr: "unexpected end of JSON input", syntax: true},
		{line: `{"kind":"Pod","apiVersion":"v1"}`, wantErr: `not an audit.k8s.io/v1 Event (apiVersion "v1" kind "Pod")`},
		{line: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete"}`, wantErr: "not an audit.k8s.io/v1 Event"},
	} {
		_, err := DecodeEvent([]byte(tc.line))
		var syntax *SyntaxError
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.line, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.line, err, tc.wantErr)
		case tc.wantErr != "" && errors.As(err, &syntax) != tc.syntax:
			t.Errorf("%s: SyntaxError %t, want %t", tc.line, !tc.syntax, tc.syntax)
		}
	}
}

func TestScanLinesNumbersEveryLine(t *testing.T) {
	var got []int
	n, err := ScanLines(strings.NewReader("a\n\n  \nb\nc"), func(n int, line []byte) error {
		got = append(got, n)
		if string(line) == "c" {
			return errors.New("stop")
		}
		return nil
	})
	if err == nil || err.Error() != "stop" || n != 5 || len(got) != 3 || got[0] != 1 || got[1] != 4 || got[2] != 5 {
		t.Errorf("lines %v, n %d, err %v", got, n, err)
	}
}

func TestDecodeEventList(t *testing.T) {
	if _, err := DecodeEventList([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"ResponseComplete"}]}`)); err == nil ||
		!strings.Contains(err.Error(), "items[0] lacks auditID, stage or level") {
		t.Errorf("an item without a level: %v", err)
	}
	if _, err := DecodeEventList([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`)); err == nil {
		t.Errorf("an Event accepted as an EventList")
	}
}
