package golden

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/harness"
)

// The scenario's custom resource: widgets.golden.example.com, stored as
// v1 and served as v1 and v2 (where spec.size is spec.count), converted by
// a webhook the scenario runs; a structural schema with a minimum, a
// default, a CEL rule, and status and scale subresources.
var (
	widgetsV1 = schema.GroupVersionResource{Group: "golden.example.com", Version: "v1", Resource: "widgets"}
	widgetsV2 = schema.GroupVersionResource{Group: "golden.example.com", Version: "v2", Resource: "widgets"}
)

func widgetCRD(conversion *apiextensionsv1.WebhookClientConfig) *apiextensionsv1.CustomResourceDefinition {
	props := func(p map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: p}
	}
	schemaOf := func(sizeField string) *apiextensionsv1.CustomResourceValidation {
		spec := props(map[string]apiextensionsv1.JSONSchemaProps{
			sizeField: {Type: "integer", Minimum: ptr.To(1.0)},
			"color":   {Type: "string", Default: &apiextensionsv1.JSON{Raw: []byte(`"blue"`)}},
		})
		spec.XValidations = apiextensionsv1.ValidationRules{{Rule: "self." + sizeField + " <= 10", Message: sizeField + " must be at most 10"}}
		return &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"spec":   spec,
			"status": props(map[string]apiextensionsv1.JSONSchemaProps{"ready": {Type: "boolean"}, "replicas": {Type: "integer"}}),
		}}}
	}
	version := func(name, sizeField string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{Name: name, Served: true, Storage: storage, Schema: schemaOf(sizeField),
			Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
				Scale: &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec." + sizeField, StatusReplicasPath: ".status.replicas"}},
			AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Size", Type: "integer", JSONPath: ".spec." + sizeField}}}
	}
	return &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "widgets.golden.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "golden.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Kind: "Widget", ListKind: "WidgetList", Plural: "widgets", Singular: "widget"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version("v1", "size", true), version("v2", "count", false)},
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ClientConfig: conversion, ConversionReviewVersions: []string{"v1"}}}}}
}

// convertWidget renames spec.size (v1) and spec.count (v2) into each other.
func convertWidget(obj *unstructured.Unstructured, to string) error {
	from, into := "size", "count"
	if to == widgetsV1.GroupVersion().String() {
		from, into = "count", "size"
	}
	if v, found, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", from); found {
		unstructured.RemoveNestedField(obj.Object, "spec", from)
		return unstructured.SetNestedField(obj.Object, v, "spec", into)
	}
	return nil
}

// customResources installs the widget CRD (cluster-scoped, so the
// policy records none of it) and waits until it is served, without a
// request the policy records; it returns a function that removes it.
func customResources(ctx context.Context, cfg *rest.Config) (func(), error) {
	hook, err := harness.StartAdmissionWebhook(harness.ConversionReviewHandler(convertWidget))
	if err != nil {
		return nil, err
	}
	crds, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		hook.Close()
		return nil, err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		hook.Close()
		return nil, err
	}
	cleanup := func() {
		_ = crds.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), "widgets.golden.example.com", metav1.DeleteOptions{})
		hook.Close()
	}
	if _, err := crds.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, widgetCRD(hook.ConversionClientConfig("/convert")), metav1.CreateOptions{}); err != nil {
		cleanup()
		return nil, err
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		for _, gvr := range []schema.GroupVersionResource{widgetsV1, widgetsV2} {
			resources, err := disco.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
			if err != nil || len(resources.APIResources) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("the widget CRD was not served: %w", err)
	}
	return cleanup, nil
}

// widgetSteps are the scenario's requests on custom resources: created
// (an unknown field pruned, a default applied), read in the other version
// (converted by the webhook), listed, patched three ways, status updated,
// scaled, refused by the schema and by the CEL rule, deleted.
func widgetSteps(ctx context.Context, cfg *rest.Config, ns string) error {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cleanup, err := customResources(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	v1, v2 := client.Resource(widgetsV1).Namespace(ns), client.Resource(widgetsV2).Namespace(ns)
	widget := func(apiVersion, name string, spec map[string]interface{}) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion, "kind": "Widget",
			"metadata": map[string]interface{}{"name": name}, "spec": spec}}
	}
	if _, err := v1.Create(ctx, widget("golden.example.com/v1", "small", map[string]interface{}{"size": int64(2), "unknown": "pruned"}), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	steps := []func() error{
		func() error { _, err := v2.Get(ctx, "small", metav1.GetOptions{}); return err },
		func() error { _, err := v1.List(ctx, metav1.ListOptions{}); return err },
		func() error {
			_, err := v1.Patch(ctx, "small", types.MergePatchType, []byte(`{"spec":{"size":3}}`), metav1.PatchOptions{})
			return err
		},
		func() error {
			_, err := v1.Patch(ctx, "small", types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/color","value":"red"}]`), metav1.PatchOptions{})
			return err
		},
		func() error {
			_, err := v1.Apply(ctx, "applied", widget("golden.example.com/v1", "applied", map[string]interface{}{"size": int64(4)}), metav1.ApplyOptions{FieldManager: "golden"})
			return err
		},
		func() error {
			w, err := v1.Get(ctx, "small", metav1.GetOptions{})
			if err != nil {
				return err
			}
			w.Object["status"] = map[string]interface{}{"ready": true, "replicas": int64(3)}
			_, err = v1.UpdateStatus(ctx, w, metav1.UpdateOptions{})
			return err
		},
		func() error {
			_, err := v1.Get(ctx, "small", metav1.GetOptions{}, "scale")
			return err
		},
		func() error {
			_, err := v1.Patch(ctx, "small", types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{}, "scale")
			return err
		},
		func() error {
			_, err := v2.Create(ctx, widget("golden.example.com/v2", "counted", map[string]interface{}{"count": int64(6)}), metav1.CreateOptions{})
			return err
		},
		// Refused: 422 by the schema's minimum, by the CEL rule.
		func() error {
			_, _ = v1.Create(ctx, widget("golden.example.com/v1", "empty", map[string]interface{}{"size": int64(0)}), metav1.CreateOptions{})
			_, _ = v1.Create(ctx, widget("golden.example.com/v1", "huge", map[string]interface{}{"size": int64(50)}), metav1.CreateOptions{})
			return nil
		},
		func() error { return v1.Delete(ctx, "small", metav1.DeleteOptions{}) },
		func() error { return v2.Delete(ctx, "counted", metav1.DeleteOptions{}) },
		func() error { return v1.Delete(ctx, "applied", metav1.DeleteOptions{}) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("widget step %d: %w", i+1, err)
		}
	}
	return nil
}
