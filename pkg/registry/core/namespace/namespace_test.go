package namespace

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

func TestStrategy(t *testing.T) {
	ctx := context.Background()
	s := NewStrategy(api.Scheme)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	s.PrepareForCreate(ctx, ns)
	s.Canonicalize(ns)
	if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes ||
		ns.Labels[corev1.LabelMetadataName] != "team" {
		t.Errorf("after create: %+v", ns)
	}
	if errs := s.Validate(ctx, ns); len(errs) != 0 {
		t.Errorf("valid namespace: %v", errs)
	}
	bad := ns.DeepCopy()
	bad.Name = "Team.One"
	if errs := s.Validate(ctx, bad); len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), `metadata.name: Invalid value: "Team.One"`) {
		t.Errorf("bad name: %v", errs)
	}

	update := ns.DeepCopy()
	update.Spec.Finalizers = nil
	update.Status.Phase = corev1.NamespaceTerminating
	update.Labels = map[string]string{}
	s.PrepareForUpdate(ctx, update, ns)
	s.Canonicalize(update)
	if len(update.Spec.Finalizers) != 1 || update.Status.Phase != corev1.NamespaceActive || update.Labels[corev1.LabelMetadataName] != "team" {
		t.Errorf("update changed finalizers, status or the name label: %+v", update)
	}

	finalize := namespaceFinalizeStrategy{s}
	fin := ns.DeepCopy()
	fin.Spec.Finalizers = nil
	finalize.PrepareForUpdate(ctx, fin, ns)
	if len(fin.Spec.Finalizers) != 0 {
		t.Errorf("finalize kept finalizers: %v", fin.Spec.Finalizers)
	}

	status := namespaceStatusStrategy{s}
	ns.ResourceVersion = "1"
	st := ns.DeepCopy()
	st.Status.Phase = corev1.NamespaceTerminating
	if errs := status.ValidateUpdate(ctx, st, ns); len(errs) == 0 {
		t.Errorf("Terminating without deletionTimestamp accepted")
	}
	deleting := ns.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	st = deleting.DeepCopy()
	st.Status.Phase = corev1.NamespaceTerminating
	if errs := status.ValidateUpdate(ctx, st, deleting); len(errs) != 0 {
		t.Errorf("Terminating with deletionTimestamp: %v", errs)
	}
	st.Status.Phase = corev1.NamespaceActive
	if errs := status.ValidateUpdate(ctx, st, deleting); len(errs) == 0 {
		t.Errorf("Active with deletionTimestamp accepted")
	}
}

func TestTable(t *testing.T) {
	list := &corev1.NamespaceList{Items: []corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: metav1.NewTime(time.Now().Add(-2 * time.Hour))}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
	}}
	table, err := TableConvertor.ConvertToTable(context.Background(), list, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.ColumnDefinitions) != 3 || table.Rows[0].Cells[0] != "a" || table.Rows[0].Cells[1] != "Active" || table.Rows[0].Cells[2] != "120m" {
		t.Errorf("table: %+v %+v", table.ColumnDefinitions, table.Rows)
	}
}

func TestGetAttrs(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"x": "y"}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	labels, fields, err := GetAttrs(ns)
	if err != nil || labels["x"] != "y" || fields["metadata.name"] != "a" || fields["status.phase"] != "Active" {
		t.Errorf("attrs %v %v %v", labels, fields, err)
	}
}
