package rbac

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/table"
)

// The tables of the RBAC resources, as kubectl shows them from a real
// cluster (kube's pkg/printers/internalversion): roles NAME, CREATED AT;
// bindings NAME, ROLE, AGE, and with -o wide USERS, GROUPS,
// SERVICEACCOUNTS.

// RoleTable prints Roles and ClusterRoles.
var RoleTable = table.Convertor{
	Columns: []metav1.TableColumnDefinition{table.Name, table.CreatedAt},
	Cells: func(obj runtime.Object) []interface{} {
		m, _ := meta.Accessor(obj)
		return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
	},
}

// BindingTable prints RoleBindings and ClusterRoleBindings.
var BindingTable = table.Convertor{
	Columns: []metav1.TableColumnDefinition{table.Name,
		{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
		table.Age,
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
		return []interface{}{name, ref.Kind + "/" + ref.Name, table.Since(created),
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
