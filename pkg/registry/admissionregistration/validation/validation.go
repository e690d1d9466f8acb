// Package validation is what k8s.io/kubernetes
// pkg/apis/admissionregistration/validation/validation.go checks for every
// admissionregistration.k8s.io kind (rules, match conditions, CEL
// expressions), on the v1 types, with its messages; each kind's own checks
// are in its registry package.
package validation

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// The enumerations kube accepts.
var (
	FailurePolicies = sets.New(string(admissionregistrationv1.Ignore), string(admissionregistrationv1.Fail))
	MatchPolicies   = sets.New(string(admissionregistrationv1.Exact), string(admissionregistrationv1.Equivalent))
	operations      = sets.New(string(admissionregistrationv1.OperationAll), string(admissionregistrationv1.Create),
		string(admissionregistrationv1.Update), string(admissionregistrationv1.Delete), string(admissionregistrationv1.Connect))
	scopes = sets.New(string(admissionregistrationv1.ClusterScope), string(admissionregistrationv1.NamespacedScope), string(admissionregistrationv1.AllScopes))
)

// RuleWithOperations checks a rule and its operations.
func RuleWithOperations(r *admissionregistrationv1.RuleWithOperations, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if len(r.Operations) == 0 {
		allErrors = append(allErrors, field.Required(path.Child("operations"), ""))
	}
	if len(r.Operations) > 1 && slices.Contains(r.Operations, admissionregistrationv1.OperationAll) {
		allErrors = append(allErrors, field.Invalid(path.Child("operations"), r.Operations, "if '*' is present, must not specify other operations"))
	}
	for i, op := range r.Operations {
		if !operations.Has(string(op)) {
			allErrors = append(allErrors, field.NotSupported(path.Child("operations").Index(i), op, sets.List(operations)))
		}
	}
	return append(allErrors, rule(&r.Rule, path)...)
}

func rule(rule *admissionregistrationv1.Rule, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if len(rule.APIGroups) == 0 {
		allErrors = append(allErrors, field.Required(path.Child("apiGroups"), ""))
	}
	if len(rule.APIGroups) > 1 && slices.Contains(rule.APIGroups, "*") {
		allErrors = append(allErrors, field.Invalid(path.Child("apiGroups"), rule.APIGroups, "if '*' is present, must not specify other API groups"))
	}
	// The group may be empty (the core group); a version may not.
	if len(rule.APIVersions) == 0 {
		allErrors = append(allErrors, field.Required(path.Child("apiVersions"), ""))
	}
	if len(rule.APIVersions) > 1 && slices.Contains(rule.APIVersions, "*") {
		allErrors = append(allErrors, field.Invalid(path.Child("apiVersions"), rule.APIVersions, "if '*' is present, must not specify other API versions"))
	}
	for i, version := range rule.APIVersions {
		if version == "" {
			allErrors = append(allErrors, field.Required(path.Child("apiVersions").Index(i), ""))
		}
	}
	allErrors = append(allErrors, resources(rule.Resources, path.Child("resources"))...)
	if rule.Scope != nil && !scopes.Has(string(*rule.Scope)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("scope"), *rule.Scope, sets.List(scopes)))
	}
	return allErrors
}

// resources checks resource/subresource names and their wildcards.
func resources(resources []string, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if len(resources) == 0 {
		allErrors = append(allErrors, field.Required(path, ""))
	}
	wildcardSubresources := sets.New[string]() // x/*
	wildcardResources := sets.New[string]()    // */x
	hasDoubleWildcard, hasSingleWildcard, hasPlainResource := false, false, false
	for i, resSub := range resources {
		if resSub == "" {
			allErrors = append(allErrors, field.Required(path.Index(i), ""))
			continue
		}
		hasDoubleWildcard = hasDoubleWildcard || resSub == "*/*"
		hasSingleWildcard = hasSingleWildcard || resSub == "*"
		res, sub, found := strings.Cut(resSub, "/")
		if !found {
			// kube's: the last plain name decides.
			hasPlainResource = resSub != "*"
			continue
		}
		if wildcardSubresources.Has(res) {
			allErrors = append(allErrors, field.Invalid(path.Index(i), resSub, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, resSub)))
		}
		if wildcardResources.Has(sub) {
			allErrors = append(allErrors, field.Invalid(path.Index(i), resSub, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, resSub)))
		}
		if sub == "*" {
			wildcardSubresources.Insert(res)
		}
		if res == "*" {
			wildcardResources.Insert(sub)
		}
	}
	if len(resources) > 1 && hasDoubleWildcard {
		allErrors = append(allErrors, field.Invalid(path, resources, "if '*/*' is present, must not specify other resources"))
	}
	if hasSingleWildcard && hasPlainResource {
		allErrors = append(allErrors, field.Invalid(path, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	return allErrors
}

// MatchConditions checks names and compiles expressions; an expression
// in stored was already stored and compiles in the stored-expressions
// environment; params says whether `params` may be referred to.
func MatchConditions(conditions []admissionregistrationv1.MatchCondition, stored sets.Set[string], params bool, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if len(conditions) > 64 {
		allErrors = append(allErrors, field.TooMany(path, len(conditions), 64))
	}
	names := sets.New[string]()
	for i, c := range conditions {
		p := path.Index(i)
		if expression := strings.TrimSpace(c.Expression); expression == "" {
			allErrors = append(allErrors, field.Required(p.Child("expression"), ""))
		} else {
			allErrors = append(allErrors, Compile(StrictCompiler(), &matchconditions.MatchCondition{Expression: expression},
				plugincel.OptionalVariableDeclarations{HasParams: params, HasAuthorizer: true}, stored.Has(expression), p.Child("expression"))...)
		}
		if c.Name == "" {
			allErrors = append(allErrors, field.Required(p.Child("name"), ""))
		} else {
			allErrors = append(allErrors, QualifiedName(c.Name, p.Child("name"))...)
			if names.Has(c.Name) {
				allErrors = append(allErrors, field.Duplicate(p.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
	}
	return allErrors
}

// QualifiedName is kube's ValidateQualifiedName.
func QualifiedName(name string, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	for _, msg := range utilvalidation.IsQualifiedName(name) {
		allErrors = append(allErrors, field.Invalid(path, name, msg))
	}
	return allErrors
}

var (
	strictOnce sync.Once
	strict     plugincel.Compiler
)

// StrictCompiler is kube's strict stateless CEL compiler, for expressions
// that may not refer to variables.
func StrictCompiler() plugincel.Compiler {
	strictOnce.Do(func() {
		strict = plugincel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	})
	return strict
}

// Compile compiles expression as the admission plugins will; an
// expression already stored compiles in the stored-expressions
// environment, so a server upgrade does not make it invalid.
func Compile(compiler plugincel.Compiler, expression plugincel.ExpressionAccessor, vars plugincel.OptionalVariableDeclarations, stored bool, path *field.Path) field.ErrorList {
	envType := environment.NewExpressions
	if stored {
		envType = environment.StoredExpressions
	}
	result := compiler.CompileCELExpression(expression, vars, envType)
	if result.Error == nil {
		return nil
	}
	return field.ErrorList{CELError(path, expression.GetExpression(), result.Error)}
}

// CELError is kube's convertCELErrorToValidationError.
func CELError(path *field.Path, expression string, err *cel.Error) *field.Error {
	switch err.Type {
	case cel.ErrorTypeRequired:
		return field.Required(path, err.Detail)
	case cel.ErrorTypeInvalid:
		return field.Invalid(path, expression, err.Detail)
	case cel.ErrorTypeInternal:
		return field.InternalError(path, err)
	}
	return field.InternalError(path, fmt.Errorf("unsupported error type: %w", err))
}
