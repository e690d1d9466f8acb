package namespace

import (
	"context"
	"fmt"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// REST serves /api/v1/namespaces. It embeds the store for everything but
// Delete, which starts termination instead of removing the object.
type REST struct {
	*genericregistry.Store
}

// Storage holds the namespace resource and its subresources.
type Storage struct {
	Namespace *REST
	// Status and Finalize serve namespaces/status and namespaces/finalize.
	Status   *registry.StatusSubresource
	Finalize *registry.StatusSubresource
}

// NewStorage returns namespace storage backed by optsGetter (etcd).
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (Storage, error) {
	strategy := NewStrategy(scheme)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.Namespace{} },
		NewListFunc:               func() runtime.Object { return &corev1.NamespaceList{} },
		PredicateFunc:             Match,
		DefaultQualifiedResource:  corev1.Resource("namespaces"),
		SingularQualifiedResource: corev1.Resource("namespace"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,
		ReturnDeletedObject: true,

		TableConvertor: TableConvertor,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: GetAttrs}); err != nil {
		return Storage{}, err
	}
	statusStore, finalizeStore := *store, *store
	statusStore.UpdateStrategy = namespaceStatusStrategy{strategy}
	statusStore.ResetFieldsStrategy = namespaceStatusStrategy{strategy}
	finalizeStore.UpdateStrategy = namespaceFinalizeStrategy{strategy}
	finalizeStore.ResetFieldsStrategy = namespaceFinalizeStrategy{strategy}
	return Storage{
		Namespace: &REST{store},
		Status:    registry.NewStatusSubresource(&statusStore),
		Finalize:  registry.NewStatusSubresource(&finalizeStore),
	}, nil
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.GracefulDeleter    = &REST{}
)

// ShortNames implements rest.ShortNamesProvider.
func (*REST) ShortNames() []string { return []string{"ns"} }

// Delete marks an active namespace Terminating; once the namespace
// controller has removed the "kubernetes" finalizer, it deletes it.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	if options.Preconditions == nil {
		options.Preconditions = &metav1.Preconditions{}
	}
	if options.Preconditions.UID == nil {
		options.Preconditions.UID = &ns.UID
	} else if *options.Preconditions.UID != ns.UID {
		return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *options.Preconditions.UID, ns.UID))
	}
	if rv := options.Preconditions.ResourceVersion; rv != nil && *rv != ns.ResourceVersion {
		return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *rv, ns.ResourceVersion))
	}

	if ns.DeletionTimestamp.IsZero() {
		if err := deleteValidation(ctx, ns); err != nil {
			return nil, false, err
		}
		key, err := r.KeyFunc(ctx, name)
		if err != nil {
			return nil, false, err
		}
		out := r.NewFunc()
		preconditions := storage.Preconditions{UID: options.Preconditions.UID, ResourceVersion: options.Preconditions.ResourceVersion}
		err = r.Storage.GuaranteedUpdate(ctx, key, out, false, &preconditions,
			storage.SimpleUpdate(func(existing runtime.Object) (runtime.Object, error) {
				existingNs := existing.(*corev1.Namespace)
				if existingNs.DeletionTimestamp.IsZero() {
					now := metav1.Now()
					existingNs.DeletionTimestamp = &now
				}
				existingNs.Status.Phase = corev1.NamespaceTerminating
				return existingNs, nil
			}), len(options.DryRun) > 0, nil)
		if err != nil {
			return nil, false, err
		}
		if len(ns.Spec.Finalizers) != 0 {
			return out, false, nil
		}
	}
	if len(ns.Spec.Finalizers) != 0 {
		return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
			fmt.Errorf("The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."))
	}
	return r.Store.Delete(ctx, name, deleteValidation, options)
}

// TableConvertor prints namespaces as NAME STATUS AGE.
var TableConvertor = table.Convertor{
	Columns: []metav1.TableColumnDefinition{table.Name,
		{Name: "Status", Type: "string", Description: "The status of the namespace"},
		table.Age,
	},
	Cells: func(obj runtime.Object) []interface{} {
		ns := obj.(*corev1.Namespace)
		return []interface{}{ns.Name, string(ns.Status.Phase), table.Since(ns.CreationTimestamp)}
	},
}
