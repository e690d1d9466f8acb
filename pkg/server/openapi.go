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

	once sync.Once
	mux  *mux.PathRecorderMux
}

// installLazyOpenAPI registers the OpenAPI paths; call it once every API
// group is installed (the specs are built from the routes there are).
func installLazyOpenAPI(s *genericapiserver.GenericAPIServer, c *genericapiserver.Config) {
	l := &lazyOpenAPI{handler: s.Handler, config: c}
	s.Handler.NonGoRestfulMux.Handle("/openapi/v2", l)
	s.Handler.NonGoRestfulMux.Handle("/openapi/v3", l)
	s.Handler.NonGoRestfulMux.HandlePrefix("/openapi/v3/", l)
}

func (l *lazyOpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.once.Do(func() {
		m := mux.NewPathRecorderMux("openapi")
		routes.OpenAPI{Config: l.config.OpenAPIConfig}.InstallV2(l.handler.GoRestfulContainer, m)
		routes.OpenAPI{V3Config: l.config.OpenAPIV3Config}.InstallV3(l.handler.GoRestfulContainer, m)
		l.mux = m
	})
	l.mux.ServeHTTP(w, r)
}
