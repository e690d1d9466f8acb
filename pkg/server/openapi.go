package server

import (
	"net/http"
	"sync"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/mux"
	"k8s.io/apiserver/pkg/server/routes"
)

// lazyOpenAPI serves /openapi/v2 and /openapi/v3 with the library's own
// handlers (routes.OpenAPI InstallV2 and InstallV3, what PrepareRun would
// install), built at the first request instead of at start-up: building
// both specs took 70 ms of a 300 ms start, for documents kubectl asks only
// for apply, explain and a few others. The config has
// SkipOpenAPIInstallation so that PrepareRun leaves them to this.
type lazyOpenAPI struct {
	handler *genericapiserver.APIServerHandler
	config  *genericapiserver.Config
	// ready closes when the server is first ready: the documents are not
	// built before. The MutatingAdmissionPolicy plugin asks for /openapi/v3
	// as soon as the server listens; building it then slowed start-up by a
	// third.
	ready <-chan struct{}

	// v2 and v3 are built apart: the MutatingAdmissionPolicy plugin reads
	// /openapi/v3 as the server starts, and v2 is the larger document.
	v2Once, v3Once sync.Once
	v2, v3         *mux.PathRecorderMux
}

// installLazyOpenAPI registers the OpenAPI paths; call it once every API
// group is installed (the specs are built from the routes there are).
func installLazyOpenAPI(s *genericapiserver.GenericAPIServer, c *genericapiserver.Config, ready <-chan struct{}) {
	l := &lazyOpenAPI{handler: s.Handler, config: c, ready: ready}
	s.Handler.NonGoRestfulMux.Handle("/openapi/v2", l)
	s.Handler.NonGoRestfulMux.Handle("/openapi/v3", l)
	s.Handler.NonGoRestfulMux.HandlePrefix("/openapi/v3/", l)
}

func (l *lazyOpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-l.ready:
	case <-r.Context().Done():
		return
	}
	if r.URL.Path == "/openapi/v2" {
		l.v2Once.Do(func() {
			l.v2 = mux.NewPathRecorderMux("openapi-v2")
			routes.OpenAPI{Config: l.config.OpenAPIConfig}.InstallV2(l.handler.GoRestfulContainer, l.v2)
		})
		l.v2.ServeHTTP(w, r)
		return
	}
	l.v3Once.Do(func() {
		l.v3 = mux.NewPathRecorderMux("openapi-v3")
		routes.OpenAPI{V3Config: l.config.OpenAPIV3Config}.InstallV3(l.handler.GoRestfulContainer, l.v3)
	})
	l.v3.ServeHTTP(w, r)
}
