// Package table prints objects of any resource as kubectl shows them: a
// TableConvertor from column definitions and a function giving one row's
// cells, for one object or a list.
package table

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Convertor prints a resource: Columns, and Cells of each object.
type Convertor struct {
	Columns []metav1.TableColumnDefinition
	Cells   func(obj runtime.Object) []interface{}
}

// Columns every resource has.
var (
	Name      = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	CreatedAt = metav1.TableColumnDefinition{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
	Age       = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
)

// ConvertToTable prints one object or a list.
func (c Convertor) ConvertToTable(_ context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	if opt, ok := tableOptions.(*metav1.TableOptions); !ok || !opt.NoHeaders {
		table.ColumnDefinitions = c.Columns
	}
	row := func(o runtime.Object) metav1.TableRow {
		return metav1.TableRow{Object: runtime.RawExtension{Object: o}, Cells: c.Cells(o)}
	}
	if meta.IsListType(obj) {
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, err
		}
		list, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, err
		}
		table.ResourceVersion, table.Continue, table.RemainingItemCount = list.GetResourceVersion(), list.GetContinue(), list.GetRemainingItemCount()
		table.Rows = make([]metav1.TableRow, 0, len(items))
		for _, item := range items {
			table.Rows = append(table.Rows, row(item))
		}
		return table, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("cannot print %T as a table: %w", obj, err)
	}
	table.ResourceVersion = m.GetResourceVersion()
	table.Rows = []metav1.TableRow{row(obj)}
	return table, nil
}

// Since prints a creation timestamp as kubectl's AGE column does.
func Since(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}
