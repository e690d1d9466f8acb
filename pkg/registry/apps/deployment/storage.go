package deployment

import (
	"context"
	"fmt"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// REST serves /apis/apps/v1/namespaces/{ns}/deployments.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames implements rest.ShortNamesProvider.
func (*REST) ShortNames() []string { return []string{"deploy"} }

// Categories implements rest.CategoriesProvider.
func (*REST) Categories() []string { return []string{"all"} }

// Storage holds deployments and their subresources.
type Storage struct {
	Deployment *REST
	Status     *registry.StatusSubresource
	Scale      *ScaleREST
}

// NewStorage returns the deployments store backed by optsGetter (etcd).
func NewStorage(optsGetter generic.RESTOptionsGetter) (Storage, error) {
	s := NewStrategy()
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &appsv1.Deployment{} },
		NewListFunc:               func() runtime.Object { return &appsv1.DeploymentList{} },
		DefaultQualifiedResource:  appsv1.Resource("deployments"),
		SingularQualifiedResource: appsv1.Resource("deployment"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		ResetFieldsStrategy:       s,
		TableConvertor:            deploymentTable,
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return Storage{}, err
	}
	statusStore := *store
	statusStore.UpdateStrategy = statusStrategy{s}
	statusStore.ResetFieldsStrategy = statusStrategy{s}
	return Storage{Deployment: &REST{store}, Status: registry.NewStatusSubresource(&statusStore), Scale: &ScaleREST{store: store}}, nil
}

// ScaleREST serves deployments/scale as autoscaling/v1 Scale: what kubectl
// scale and autoscalers write, kube's ScaleREST with its managed fields
// mapped between the Scale's spec.replicas and the deployment's.
type ScaleREST struct {
	store *genericregistry.Store
}

var (
	_ rest.Patcher                  = &ScaleREST{}
	_ rest.GroupVersionKindProvider = &ScaleREST{}
	// replicasPath is where a Scale's spec.replicas lives in a deployment.
	replicasPath = managedfields.ResourcePathMappings{appsv1.SchemeGroupVersion.String(): fieldpath.MakePathOrDie("spec", "replicas")}
)

// GroupVersionKind says the subresource's kind is autoscaling/v1 Scale.
func (r *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

func (r *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }
func (r *ScaleREST) Destroy()            {}

func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	scale, err := scaleFromDeployment(obj.(*appsv1.Deployment))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return scale, nil
}

func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// Admission sees Scales, as in kube.
	toScaleCreate := func(ctx context.Context, obj runtime.Object) error {
		scale, err := scaleFromDeployment(obj.(*appsv1.Deployment))
		if err != nil {
			return err
		}
		return createValidation(ctx, scale)
	}
	toScaleUpdate := func(ctx context.Context, obj, old runtime.Object) error {
		newScale, err := scaleFromDeployment(obj.(*appsv1.Deployment))
		if err != nil {
			return err
		}
		oldScale, err := scaleFromDeployment(old.(*appsv1.Deployment))
		if err != nil {
			return err
		}
		return updateValidation(ctx, newScale, oldScale)
	}
	obj, _, err := r.store.Update(ctx, name, &scaleUpdatedObjectInfo{name: name, reqObjInfo: objInfo}, toScaleCreate, toScaleUpdate, false, options)
	if err != nil {
		return nil, false, err
	}
	scale, err := scaleFromDeployment(obj.(*appsv1.Deployment))
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	return scale, false, nil
}

func (r *ScaleREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

func scaleFromDeployment(d *appsv1.Deployment) (*autoscalingv1.Scale, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, UID: d.UID, ResourceVersion: d.ResourceVersion, CreationTimestamp: d.CreationTimestamp},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
		Status:     autoscalingv1.ScaleStatus{Replicas: d.Status.Replicas, Selector: selector.String()},
	}, nil
}

// scaleUpdatedObjectInfo turns the request's Scale into the deployment
// it changes: only spec.replicas, with its managed fields.
type scaleUpdatedObjectInfo struct {
	name       string
	reqObjInfo rest.UpdatedObjectInfo
}

func (i *scaleUpdatedObjectInfo) Preconditions() *metav1.Preconditions {
	return i.reqObjInfo.Preconditions()
}

func (i *scaleUpdatedObjectInfo) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	d := oldObj.DeepCopyObject().(*appsv1.Deployment)
	if d.ResourceVersion == "" {
		return nil, apierrors.NewNotFound(appsv1.Resource("deployments/scale"), i.name)
	}
	fields := managedfields.NewScaleHandler(d.ManagedFields, appsv1.SchemeGroupVersion, replicasPath)
	oldScale, err := scaleFromDeployment(d)
	if err != nil {
		return nil, err
	}
	if oldScale.ManagedFields, err = fields.ToSubresource(); err != nil {
		return nil, err
	}
	obj, err := i.reqObjInfo.UpdatedObject(ctx, oldScale)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, apierrors.NewBadRequest("nil update passed to Scale")
	}
	scale, ok := obj.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected input object type to be Scale, but %T", obj))
	}
	if errs := validateScale(scale); len(errs) > 0 {
		return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), d.Name, errs)
	}
	if scale.UID != "" && scale.UID != d.UID {
		return nil, apierrors.NewConflict(appsv1.Resource("deployments/scale"), d.Name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", scale.UID, d.UID))
	}
	d.Spec.Replicas = &scale.Spec.Replicas
	d.ResourceVersion = scale.ResourceVersion
	if d.ManagedFields, err = fields.ToParent(scale.ManagedFields); err != nil {
		return nil, err
	}
	return d, nil
}

// validateScale is kube's ValidateScale: managed fields and replicas.
func validateScale(scale *autoscalingv1.Scale) field.ErrorList {
	allErrs := metav1validation.ValidateManagedFields(scale.ManagedFields, field.NewPath("metadata").Child("managedFields"))
	if scale.Spec.Replicas < 0 {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(scale.Spec.Replicas), field.NewPath("spec", "replicas"))...)
	}
	return allErrs
}

// deploymentTable is kube's (pkg/printers/internalversion printDeployment).
var deploymentTable = table.Convertor{
	Columns: []metav1.TableColumnDefinition{
		table.Name,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
		{Name: "Available", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		table.Age,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]},
	},
	Cells: func(obj runtime.Object) []interface{} {
		d := obj.(*appsv1.Deployment)
		desired := int32(0)
		if d.Spec.Replicas != nil {
			desired = *d.Spec.Replicas
		}
		selector := "<invalid>"
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			selector = s.String()
		}
		names, images := "", ""
		for i, c := range d.Spec.Template.Spec.Containers {
			if i > 0 {
				names, images = names+",", images+","
			}
			names, images = names+c.Name, images+c.Image
		}
		return []interface{}{d.Name, fmt.Sprintf("%d/%d", int64(d.Status.ReadyReplicas), int64(desired)), int64(d.Status.UpdatedReplicas),
			int64(d.Status.AvailableReplicas), table.Since(d.CreationTimestamp), names, images, selector}
	},
}
