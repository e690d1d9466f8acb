// Package auditsink serves auditregistration.k8s.io/v1alpha1 auditsinks,
// the dynamic audit backend's configuration (Kubernetes 1.13-1.18).
package auditsink

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// NewStorage returns the auditsinks store backed by optsGetter (etcd);
// kubectl get prints NAME and AGE.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	s := NewStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &auditreg.AuditSink{} },
		NewListFunc:               func() runtime.Object { return &auditreg.AuditSinkList{} },
		DefaultQualifiedResource:  auditreg.Resource("auditsinks"),
		SingularQualifiedResource: auditreg.Resource("auditsink"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		TableConvertor:            sinkTable,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return store, nil
}

// sinkTable is kube-apiserver 1.18's: NAME, AGE.
var sinkTable = table.Convertor{
	Columns: []metav1.TableColumnDefinition{table.Name, table.Age},
	Cells: func(obj runtime.Object) []interface{} {
		s := obj.(*auditreg.AuditSink)
		return []interface{}{s.Name, table.Since(s.CreationTimestamp)}
	},
}
