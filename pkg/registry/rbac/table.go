package rbac

import (
	"context"
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/pod"
)

// TableConvertor prints an RBAC resource as kubectl shows it from a real
// cluster (kube's pkg/printers/internalversion): roles NAME, CREATED AT;
// bindings NAME, ROLE, AGE, and with -o wide USERS, GROUPS,
// SERVICEACCOUNTS.
type TableConvertor struct {
	Columns []metav1.TableColumnDefinition
	Cells   func(obj runtime.Object) []interface{}
}

var (
	nameColumn      = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	createdAtColumn = metav1.TableColumnDefinition{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
	ageColumn       = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
)

// RoleTable prints Roles and ClusterRoles.
var RoleTable = TableConvertor{
	Columns: []metav1.TableColumnDefinition{nameColumn, createdAtColumn},
	Cells: func(obj runtime.Object) []interface{} {
		m, _ := meta.Accessor(obj)
		return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
	},
}

// BindingTable prints RoleBindings and ClusterRoleBindings.
var BindingTable = TableConvertor{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
		ageColumn,
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the roleBinding"},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the roleBinding"},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the roleBinding"},
	},
	Cells: func(obj runtime.Object) []interface{} {
		var name string
		var created metav1.Time
		var ref rbacv1.RoleRef
		var subjects []rbacv1.Subject
		switch b := obj.(type) {
		case *rbacv1.RoleBinding:
			name, created, ref, subjects = b.Name, b.CreationTimestamp, b.RoleRef, b.Subjects
		case *rbacv1.ClusterRoleBinding:
			name, created, ref, subjects = b.Name, b.CreationTimestamp, b.RoleRef, b.Subjects
		}
		users, groups, sas := subjectStrings(subjects)
		return []interface{}{name, ref.Kind + "/" + ref.Name, pod.Age(created),
			strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
	},
}

// subjectStrings is kube's rbac.SubjectsStrings.
func subjectStrings(subjects []rbacv1.Subject) (users, groups, serviceAccounts []string) {
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			serviceAccounts = append(serviceAccounts, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return users, groups, serviceAccounts
}

// ConvertToTable prints one object or a list.
func (c TableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
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
