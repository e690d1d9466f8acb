package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// REST serves /api/v1/namespaces/{ns}/serviceaccounts.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// ShortNames implements rest.ShortNamesProvider.
func (*REST) ShortNames() []string { return []string{"sa"} }

// NewStorage returns the serviceaccounts store backed by optsGetter (etcd).
func NewStorage(optsGetter generic.RESTOptionsGetter) (*REST, error) {
	s := NewStrategy()
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.ServiceAccount{} },
		NewListFunc:               func() runtime.Object { return &corev1.ServiceAccountList{} },
		DefaultQualifiedResource:  corev1.Resource("serviceaccounts"),
		SingularQualifiedResource: corev1.Resource("serviceaccount"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		ReturnDeletedObject:       true,
		TableConvertor:            serviceAccountTable,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}

// serviceAccountTable is kube's (pkg/printers/internalversion): NAME, AGE.
var serviceAccountTable = table.Convertor{
	Columns: []metav1.TableColumnDefinition{table.Name, table.Age},
	Cells: func(obj runtime.Object) []interface{} {
		sa := obj.(*corev1.ServiceAccount)
		return []interface{}{sa.Name, table.Since(sa.CreationTimestamp)}
	},
}
