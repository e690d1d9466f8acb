package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
	apiextensionshelpers "k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/endpoints/discovery"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// legacyDiscovery keeps the groups apiextensions-apiserver serves in the
// server's unaggregated /apis list. The aggregated document is one for both
// servers already (they share its manager, as in kube-apiserver); the
// unaggregated list is what kube-aggregator assembles in kube-apiserver from
// an APIService per group version, which this server does not have: its
// own group and every established CRD's group with its served versions,
// newest first by kube's version order, after the built-in groups, by
// name.
type legacyDiscovery struct {
	groups discovery.GroupManager
	crds   cache.SharedIndexInformer

	mu    sync.Mutex
	added sets.Set[string]
}

// installLegacyDiscovery adds apiextensions-apiserver's own groups to
// groups now and the CRDs' groups as they change.
func installLegacyDiscovery(groups discovery.GroupManager, extensions *apiextensionsapiserver.CustomResourceDefinitions) error {
	rec := httptest.NewRecorder()
	extensions.GenericAPIServer.DiscoveryGroupManager.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/apis", nil))
	var own metav1.APIGroupList
	if err := json.Unmarshal(rec.Body.Bytes(), &own); err != nil {
		return fmt.Errorf("apiextensions-apiserver's groups: %w", err)
	}
	for _, g := range own.Groups {
		groups.AddGroup(g)
	}
	d := &legacyDiscovery{groups: groups, crds: extensions.Informers.Apiextensions().V1().CustomResourceDefinitions().Informer(), added: sets.New[string]()}
	_, err := d.crds.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { d.sync() },
		UpdateFunc: func(_, _ interface{}) { d.sync() },
		DeleteFunc: func(interface{}) { d.sync() },
	})
	return err
}

// sync sets the CRDs' groups from the informer's cache.
func (d *legacyDiscovery) sync() {
	versions := map[string]sets.Set[string]{}
	for _, obj := range d.crds.GetStore().List() {
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		// A CRD of a built-in group is not served (the server's own
		// handler answers first); the group stays the server's.
		if !ok || !apiextensionshelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) || api.Scheme.IsGroupRegistered(crd.Spec.Group) {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Served {
				if versions[crd.Spec.Group] == nil {
					versions[crd.Spec.Group] = sets.New[string]()
				}
				versions[crd.Spec.Group].Insert(v.Name)
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Removed and added again in name order, after the built-in groups.
	for name := range d.added {
		d.groups.RemoveGroup(name)
	}
	d.added = sets.New[string]()
	names := make([]string, 0, len(versions))
	for name := range versions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vs := versions[name].UnsortedList()
		slices.SortFunc(vs, func(a, b string) int { return -version.CompareKubeAwareVersionStrings(a, b) })
		group := metav1.APIGroup{Name: name}
		for _, v := range vs {
			group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
		}
		group.PreferredVersion = group.Versions[0]
		d.groups.AddGroup(group)
		d.added.Insert(name)
	}
	klog.V(4).InfoS("Custom resource groups in /apis", "groups", names)
}
