package server

import (
	"os"
	"testing"

	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

// The identity is the library's for the same host name.
func TestAPIServerIDIsTheLibrarys(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := genericapiserver.NewConfig(api.Codecs).APIServerID
	if want == "" {
		t.Fatal("the library gives no APIServerID: is the APIServerIdentity feature off?")
	}
	if got := apiServerID(host); got != want {
		t.Errorf("apiServerID(%q) = %s, the library's %s", host, got, want)
	}
	if apiServerID("control-plane-a") == apiServerID("control-plane-b") {
		t.Error("two host names, one identity")
	}
}
