package policy

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/validation"
)

// kube's MutatingAdmissionPolicy and its binding (GA, on by default in
// v1.37): validation.

var (
	// mutatingOperations: a policy can only change what is created or
	// updated (DELETE is refused).
	mutatingOperations = sets.New(string(admissionregistrationv1.OperationAll), string(admissionregistrationv1.Create),
		string(admissionregistrationv1.Update), string(admissionregistrationv1.Connect))
	reinvocationPolicies = sets.New(string(admissionregistrationv1.NeverReinvocationPolicy), string(admissionregistrationv1.IfNeededReinvocationPolicy))
	patchTypes           = sets.New(string(admissionregistrationv1.PatchTypeApplyConfiguration), string(admissionregistrationv1.PatchTypeJSONPatch))
)

func mutatingStoredOf(old, cur *admissionregistrationv1.MutatingAdmissionPolicy) stored {
	s := newStored()
	for _, c := range old.Spec.MatchConditions {
		s.matchConditions.Insert(c.Expression)
	}
	for _, v := range old.Spec.Variables {
		s.validations.Insert(v.Expression)
	}
	for _, m := range old.Spec.Mutations {
		if m.ApplyConfiguration != nil {
			s.mutations.Insert(m.ApplyConfiguration.Expression)
		}
		if m.JSONPatch != nil {
			s.mutations.Insert(m.JSONPatch.Expression)
		}
	}
	s.ignoreMatchConditions = equality.Semantic.DeepEqual(cur.Spec.ParamKind, old.Spec.ParamKind) &&
		equality.Semantic.DeepEqual(cur.Spec.MatchConditions, old.Spec.MatchConditions)
	return s
}

func validateMutatingPolicy(p *admissionregistrationv1.MutatingAdmissionPolicy, s stored) field.ErrorList {
	allErrors := apivalidation.ValidateObjectMeta(&p.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec, path := &p.Spec, field.NewPath("spec")
	compiler := compositedCompiler()
	hasParams := spec.ParamKind != nil
	allErrors = append(allErrors, validateSpecCommon(spec.FailurePolicy, spec.ParamKind, spec.MatchConstraints, spec.MatchConditions, s, path,
		func(m *admissionregistrationv1.MatchResources) field.ErrorList {
			return validateMutatingOperations(m, path.Child("matchConstraints", "resourceRules", "operations"))
		})...)
	for i, v := range spec.Variables {
		allErrors = append(allErrors, validateVariable(compiler, &v, hasParams, s, path.Child("variables").Index(i))...)
	}
	if len(spec.Mutations) == 0 {
		allErrors = append(allErrors, field.Required(path.Child("mutations"), "mutations must contain at least one item"))
	}
	for i := range spec.Mutations {
		allErrors = append(allErrors, validateMutation(compiler, &spec.Mutations[i], hasParams, s, path.Child("mutations").Index(i))...)
	}
	if spec.ReinvocationPolicy == "" {
		allErrors = append(allErrors, field.Required(path.Child("reinvocationPolicy"), ""))
	} else if !reinvocationPolicies.Has(string(spec.ReinvocationPolicy)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("reinvocationPolicy"), spec.ReinvocationPolicy, sets.List(reinvocationPolicies)))
	}
	return allErrors
}

func validateMutatingOperations(m *admissionregistrationv1.MatchResources, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	for _, rule := range m.ResourceRules {
		for _, op := range rule.Operations {
			if !mutatingOperations.Has(string(op)) {
				allErrors = append(allErrors, field.NotSupported(path, op, sets.List(mutatingOperations)))
			}
		}
	}
	return allErrors
}

func validateMutation(compiler plugincel.Compiler, m *admissionregistrationv1.Mutation, hasParams bool, s stored, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	compile := func(expression string, accessor plugincel.ExpressionAccessor, path *field.Path) {
		if strings.TrimSpace(expression) == "" {
			allErrors = append(allErrors, field.Required(path.Child("expression"), ""))
			return
		}
		envType := environment.NewExpressions
		if s.mutations.Has(expression) {
			envType = environment.StoredExpressions
		}
		result := compiler.CompileCELExpression(accessor, plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true, HasPatchTypes: true}, envType)
		if result.Error != nil {
			allErrors = append(allErrors, validation.CELError(path.Child("expression"), accessor.GetExpression(), result.Error))
		}
	}
	switch m.PatchType {
	case "":
		allErrors = append(allErrors, field.Required(path.Child("patchType"), ""))
	case admissionregistrationv1.PatchTypeJSONPatch:
		if m.JSONPatch == nil {
			allErrors = append(allErrors, field.Required(path.Child("jsonPatch"), "must be specified when patchType is JSONPatch"))
		} else {
			compile(m.JSONPatch.Expression, &patch.JSONPatchCondition{Expression: strings.TrimSpace(m.JSONPatch.Expression)}, path.Child("jsonPatch"))
		}
		if m.ApplyConfiguration != nil {
			allErrors = append(allErrors, field.Invalid(path.Child("applyConfiguration"), "{applyConfiguration}", "must not be specified when patchType is JSONPatch"))
		}
	case admissionregistrationv1.PatchTypeApplyConfiguration:
		if m.ApplyConfiguration == nil {
			allErrors = append(allErrors, field.Required(path.Child("applyConfiguration"), "must be specified when patchType is ApplyConfiguration"))
		} else {
			compile(m.ApplyConfiguration.Expression, &patch.ApplyConfigurationCondition{Expression: strings.TrimSpace(m.ApplyConfiguration.Expression)}, path.Child("applyConfiguration"))
		}
		if m.JSONPatch != nil {
			allErrors = append(allErrors, field.Invalid(path.Child("jsonPatch"), "{jsonPatch}", "must not be specified when patchType is ApplyConfiguration"))
		}
	default:
		allErrors = append(allErrors, field.NotSupported(path.Child("patchType"), m.PatchType, sets.List(patchTypes)))
	}
	return allErrors
}

func validateMutatingBinding(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) field.ErrorList {
	allErrors := validateBindingCommon(&b.ObjectMeta, b.Spec.PolicyName, b.Spec.ParamRef, b.Spec.MatchResources)
	if b.Spec.MatchResources != nil {
		allErrors = append(allErrors, validateMutatingOperations(b.Spec.MatchResources, field.NewPath("spec", "matchResources", "resourceRules", "operations"))...)
	}
	return allErrors
}
