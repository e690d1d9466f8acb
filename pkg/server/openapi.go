package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	restful "github.com/emicklei/go-restful/v3"
	apiextensionshelpers "k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	openapicontroller "k8s.io/apiextensions-apiserver/pkg/controller/openapi"
	openapiv3controller "k8s.io/apiextensions-apiserver/pkg/controller/openapiv3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/mux"
	"k8s.io/apiserver/pkg/server/routes"
	"k8s.io/klog/v2"
)

// lazyOpenAPI serves /openapi/v2 and /openapi/v3 with the library's own
// handlers (routes.OpenAPI InstallV2 and InstallV3, what PrepareRun would
// install), built at the first request instead of at start-up: building
// both specs took 70 ms of a 300 ms start, for documents kubectl asks only
// for apply, explain and a few others. The config has
// SkipOpenAPIInstallation so that PrepareRun leaves them to this.
//
// The documents describe the server's API groups and apiextensions-
// apiserver's, and the custom resources: apiextensions-apiserver's own
// OpenAPI controllers keep each CRD's schema in them, as they keep it in
// kube-apiserver's.
type lazyOpenAPI struct {
	config     *genericapiserver.Config
	server     *genericapiserver.GenericAPIServer
	extensions *apiextensionsapiserver.CustomResourceDefinitions
	// ready closes when the server is first ready: the documents are not
	// built before. The MutatingAdmissionPolicy plugin asks for /openapi/v3
	// as soon as the server listens; building it then slowed start-up by a
	// third.
	ready <-chan struct{}
	// stop ends the CRD controllers.
	stop context.Context

	// v2 and v3 are built apart: the MutatingAdmissionPolicy plugin reads
	// /openapi/v3 as the server starts, and v2 is the larger document.
	v2Once, v3Once   sync.Once
	v2Built, v3Built sync.Once
	v2, v3           *mux.PathRecorderMux

	// built, if set, is called (in its own goroutine) once each document
	// was first built.
	built func()

	// serving is held for reading by every request, for writing by wait.
	serving sync.RWMutex
	stopped bool
}

// installLazyOpenAPI registers the OpenAPI paths; call it once every API
// group is installed (the specs are built from the routes there are).
func installLazyOpenAPI(s *genericapiserver.GenericAPIServer, extensions *apiextensionsapiserver.CustomResourceDefinitions, c *genericapiserver.Config,
	ready <-chan struct{}, stop context.Context) *lazyOpenAPI {
	l := &lazyOpenAPI{config: c, server: s, extensions: extensions, ready: ready, stop: stop}
	s.Handler.NonGoRestfulMux.Handle("/openapi/v2", l)
	s.Handler.NonGoRestfulMux.Handle("/openapi/v3", l)
	s.Handler.NonGoRestfulMux.HandlePrefix("/openapi/v3/", l)
	return l
}

// wait returns once no document is being built or served, and none will
// be. A request's handler outlives it when the request ends first (the
// handler chain's timeout lets it run on): the MutatingAdmissionPolicy
// plugin's request, made at ready, would otherwise keep marshalling every
// group's document (some 80 ms of a core) after the server stopped, slowing
// whatever the process does next, as a test's next server.
func (l *lazyOpenAPI) wait() {
	l.serving.Lock()
	l.stopped = true
	l.serving.Unlock()
}

// routes are the server's and apiextensions-apiserver's web services in
// one container; a path both have (/version) is the server's.
func (l *lazyOpenAPI) routes() *restful.Container {
	c := restful.NewContainer()
	roots := map[string]bool{}
	for _, ws := range l.server.Handler.GoRestfulContainer.RegisteredWebServices() {
		roots[ws.RootPath()] = true
		c.Add(ws)
	}
	for _, ws := range l.extensions.GenericAPIServer.Handler.GoRestfulContainer.RegisteredWebServices() {
		if !roots[ws.RootPath()] {
			c.Add(ws)
		}
	}
	return c
}

func (l *lazyOpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-l.ready:
	case <-r.Context().Done():
		return
	}
	l.serving.RLock()
	defer l.serving.RUnlock()
	if l.stopped || l.stop.Err() != nil {
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	crds := l.extensions.Informers.Apiextensions().V1().CustomResourceDefinitions()
	if r.URL.Path == "/openapi/v2" {
		l.v2Once.Do(func() {
			l.v2 = mux.NewPathRecorderMux("openapi-v2")
			service, static := routes.OpenAPI{Config: l.config.OpenAPIConfig}.InstallV2(l.routes(), l.v2)
			go openapicontroller.NewController(crds).Run(static, service, l.stop.Done())
			l.waitForCRDs(l.v2, "/openapi/v2")
		})
		l.v2.ServeHTTP(w, r)
		l.v2Built.Do(l.afterBuild)
		return
	}
	l.v3Once.Do(func() {
		l.v3 = mux.NewPathRecorderMux("openapi-v3")
		service := routes.OpenAPI{V3Config: l.config.OpenAPIV3Config}.InstallV3(l.routes(), l.v3)
		go openapiv3controller.NewController(crds).Run(service, l.stop.Done())
		l.waitForCRDs(l.v3, "/openapi/v3")
	})
	l.v3.ServeHTTP(w, r)
	l.v3Built.Do(l.afterBuild)
}

// afterBuild runs built once a document was first built and served: the
// index of /openapi/v3 builds every group's document as it is served.
func (l *lazyOpenAPI) afterBuild() {
	if l.built != nil {
		go l.built()
	}
}

// waitForCRDs waits until the document at path, just built, has every
// established CRD's served versions: the library's controller adds them
// in its own goroutine, and the first request must not miss them.
func (l *lazyOpenAPI) waitForCRDs(doc http.Handler, path string) {
	crds := l.extensions.Informers.Apiextensions().V1().CustomResourceDefinitions()
	ctx, cancel := context.WithTimeout(l.stop, 10*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 2*time.Millisecond, true, func(context.Context) (bool, error) {
		if !crds.Informer().HasSynced() {
			return false, nil
		}
		list, err := crds.Lister().List(labels.Everything())
		if err != nil || len(list) == 0 {
			return err == nil, err
		}
		rec := httptest.NewRecorder()
		doc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body := rec.Body.String()
		for _, crd := range list {
			if !apiextensionshelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if v.Served && !strings.Contains(body, fmt.Sprintf("apis/%s/%s", crd.Spec.Group, v.Name)) {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		klog.ErrorS(err, "OpenAPI document served without every custom resource", "path", path)
	}
}
