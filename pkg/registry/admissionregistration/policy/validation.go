package policy

import (
	"fmt"
	"regexp"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/util/jsonpath"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/validation"
)

// kube's validation of ValidatingAdmissionPolicies and their bindings
// (pkg/apis/admissionregistration/validation/validation.go), on v1.

// stored are the expressions the object had before an update: they compile
// in the stored-expressions environment.
type stored struct {
	matchConditions, validations, messages, auditAnnotations, mutations sets.Set[string]
	// ignoreMatchConditions: neither the match conditions nor paramKind
	// changed, so they are not checked again.
	ignoreMatchConditions bool
}

func newStored() stored {
	return stored{sets.New[string](), sets.New[string](), sets.New[string](), sets.New[string](), sets.New[string](), false}
}

func storedOf(old, cur *admissionregistrationv1.ValidatingAdmissionPolicy) stored {
	s := newStored()
	for _, c := range old.Spec.MatchConditions {
		s.matchConditions.Insert(c.Expression)
	}
	for _, v := range old.Spec.Validations {
		s.validations.Insert(v.Expression)
		if v.MessageExpression != "" {
			s.messages.Insert(v.MessageExpression)
		}
	}
	for _, a := range old.Spec.AuditAnnotations {
		s.auditAnnotations.Insert(a.ValueExpression)
	}
	for _, v := range old.Spec.Variables {
		s.validations.Insert(v.Expression)
	}
	s.ignoreMatchConditions = equality.Semantic.DeepEqual(cur.Spec.ParamKind, old.Spec.ParamKind) &&
		equality.Semantic.DeepEqual(cur.Spec.MatchConditions, old.Spec.MatchConditions)
	return s
}

const (
	maxAuditAnnotations = 20
	// Less than an annotation value's 10 kB: an expression that joins
	// strings often makes a longer value than itself.
	maxAuditAnnotationValueExpressionLength = 5 * 1024
)

var (
	validationActions = sets.New(string(admissionregistrationv1.Deny), string(admissionregistrationv1.Warn), string(admissionregistrationv1.Audit))
	reasons           = sets.New(string(metav1.StatusReasonForbidden), string(metav1.StatusReasonInvalid), string(metav1.StatusReasonRequestEntityTooLarge))
)

func validatePolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy, s stored) field.ErrorList {
	allErrors := apivalidation.ValidateObjectMeta(&p.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec, path := &p.Spec, field.NewPath("spec")
	// A compiler that composes variables is stateful: one per policy.
	var compiler plugincel.Compiler
	getCompiler := func() plugincel.Compiler {
		if compiler == nil {
			compiler = validation.StrictCompiler()
			if len(spec.Variables) > 0 {
				compiler = compositedCompiler()
			}
		}
		return compiler
	}
	hasParams := spec.ParamKind != nil
	allErrors = append(allErrors, validateSpecCommon(spec.FailurePolicy, spec.ParamKind, spec.MatchConstraints, spec.MatchConditions, s, path, nil)...)
	for i, v := range spec.Variables {
		allErrors = append(allErrors, validateVariable(getCompiler(), &v, hasParams, s, path.Child("variables").Index(i))...)
	}
	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		allErrors = append(allErrors, field.Required(path.Child("validations"), "validations or auditAnnotations must contain at least one item"))
		allErrors = append(allErrors, field.Required(path.Child("auditAnnotations"), "validations or auditAnnotations must contain at least one item"))
		return allErrors
	}
	for i, v := range spec.Validations {
		allErrors = append(allErrors, validateValidation(getCompiler(), &v, hasParams, s, path.Child("validations").Index(i))...)
	}
	if len(spec.AuditAnnotations) > maxAuditAnnotations {
		allErrors = append(allErrors, field.Invalid(path.Child("auditAnnotations"), spec.AuditAnnotations, fmt.Sprintf("must not have more than %d auditAnnotations", maxAuditAnnotations)))
	}
	keys := sets.New[string]()
	policyName := p.Name
	for i, a := range spec.AuditAnnotations {
		p := path.Child("auditAnnotations").Index(i)
		allErrors = append(allErrors, validateAuditAnnotation(getCompiler(), policyName, &a, hasParams, s, p)...)
		if keys.Has(a.Key) {
			allErrors = append(allErrors, field.Duplicate(p.Child("key"), a.Key))
		}
		keys.Insert(a.Key)
	}
	return allErrors
}

func validateParamKind(kind admissionregistrationv1.ParamKind, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	switch {
	case kind.APIVersion == "":
		allErrors = append(allErrors, field.Required(path.Child("apiVersion"), ""))
	case strings.Count(kind.APIVersion, "/") > 1:
		allErrors = append(allErrors, field.Invalid(path.Child("apiVersion"), kind.APIVersion, "unexpected GroupVersion string: "+kind.APIVersion))
	default:
		group, version, found := strings.Cut(kind.APIVersion, "/")
		if !found {
			group, version = "", kind.APIVersion
		}
		// As an APIService's group and version are checked.
		if group != "" {
			if errs := utilvalidation.IsDNS1123Subdomain(group); len(errs) > 0 {
				allErrors = append(allErrors, field.Invalid(path.Child("apiVersion"), group, strings.Join(errs, ",")))
			}
		}
		if version == "" {
			allErrors = append(allErrors, field.Invalid(path.Child("apiVersion"), kind.APIVersion, "version must be specified"))
		} else if errs := utilvalidation.IsDNS1035Label(version); len(errs) > 0 {
			allErrors = append(allErrors, field.Invalid(path.Child("apiVersion"), version, strings.Join(errs, ",")))
		}
	}
	if kind.Kind == "" {
		allErrors = append(allErrors, field.Required(path.Child("kind"), ""))
	} else if errs := utilvalidation.IsDNS1035Label(strings.ToLower(kind.Kind)); len(errs) > 0 {
		allErrors = append(allErrors, field.Invalid(path.Child("kind"), kind.Kind, "may have mixed case, but should otherwise match: "+strings.Join(errs, ",")))
	}
	return allErrors
}

func validateMatchResources(m *admissionregistrationv1.MatchResources, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if m == nil {
		return nil
	}
	if m.MatchPolicy == nil {
		allErrors = append(allErrors, field.Required(path.Child("matchPolicy"), ""))
	} else if !validation.MatchPolicies.Has(string(*m.MatchPolicy)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("matchPolicy"), *m.MatchPolicy, sets.List(validation.MatchPolicies)))
	}
	// Strictly: these types came after kubernetes#99139 was fixed.
	for _, sel := range []struct {
		name     string
		selector *metav1.LabelSelector
	}{{"namespaceSelector", m.NamespaceSelector}, {"objectSelector", m.ObjectSelector}} {
		if sel.selector == nil {
			allErrors = append(allErrors, field.Required(path.Child(sel.name), ""))
		} else {
			allErrors = append(allErrors, metav1validation.ValidateLabelSelector(sel.selector, metav1validation.LabelSelectorValidationOptions{}, path.Child(sel.name))...)
		}
	}
	for i := range m.ResourceRules {
		allErrors = append(allErrors, validateNamedRule(&m.ResourceRules[i], path.Child("resourceRules").Index(i))...)
	}
	for i := range m.ExcludeResourceRules {
		allErrors = append(allErrors, validateNamedRule(&m.ExcludeResourceRules[i], path.Child("excludeResourceRules").Index(i))...)
	}
	return allErrors
}

func validateNamedRule(n *admissionregistrationv1.NamedRuleWithOperations, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	names := sets.New[string]()
	for i, name := range n.ResourceNames {
		for _, msg := range content.IsPathSegmentName(name) {
			allErrors = append(allErrors, field.Invalid(path.Child("resourceNames").Index(i), name, msg))
		}
		if names.Has(name) {
			allErrors = append(allErrors, field.Duplicate(path.Child("resourceNames").Index(i), name))
		}
		names.Insert(name)
	}
	return append(allErrors, validation.RuleWithOperations(&n.RuleWithOperations, path)...)
}

var celIdentifier = regexp.MustCompile("^[_a-zA-Z][_a-zA-Z0-9]*$")

// celReserved are CEL's reserved words, no identifiers.
var celReserved = sets.New("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
	"import", "let", "loop", "package", "namespace", "return", "var", "void", "while")

func validateVariable(compiler plugincel.Compiler, v *admissionregistrationv1.Variable, hasParams bool, s stored, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if strings.TrimSpace(v.Name) == "" {
		allErrors = append(allErrors, field.Required(path.Child("name"), "name is not specified"))
	} else if !celIdentifier.MatchString(v.Name) || celReserved.Has(v.Name) {
		allErrors = append(allErrors, field.Invalid(path.Child("name"), v.Name, "must be a valid CEL identifier"))
	}
	if strings.TrimSpace(v.Expression) == "" {
		return append(allErrors, field.Required(path.Child("expression"), "expression is not specified"))
	}
	composited, ok := compiler.(*plugincel.CompositedCompiler)
	if !ok {
		return append(allErrors, field.InternalError(path, fmt.Errorf("variable composition is not allowed")))
	}
	envType := environment.NewExpressions
	if s.validations.Has(v.Expression) {
		envType = environment.StoredExpressions
	}
	variable := &validatingpolicy.Variable{Name: v.Name, Expression: v.Expression}
	result := composited.CompileAndStoreVariable(variable, plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true}, envType)
	if result.Error != nil {
		allErrors = append(allErrors, validation.CELError(path.Child("expression"), v.Expression, result.Error))
	}
	return allErrors
}

var newlines = regexp.MustCompile(`[\n\r]+`)

func validateValidation(compiler plugincel.Compiler, v *admissionregistrationv1.Validation, hasParams bool, s stored, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if strings.TrimSpace(v.Expression) == "" {
		allErrors = append(allErrors, field.Required(path.Child("expression"), "expression is not specified"))
	} else {
		allErrors = append(allErrors, validation.Compile(compiler, &validatingpolicy.ValidationCondition{Expression: v.Expression},
			plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true}, s.validations.Has(v.Expression), path.Child("expression"))...)
	}
	if v.MessageExpression != "" && strings.TrimSpace(v.MessageExpression) == "" {
		allErrors = append(allErrors, field.Invalid(path.Child("messageExpression"), v.MessageExpression, "must be non-empty if specified"))
	} else if strings.TrimSpace(v.MessageExpression) != "" {
		// kube's: the params flag of match conditions, which is the
		// policy's paramKind; no authorizer in a message.
		allErrors = append(allErrors, validation.Compile(compiler, &validatingpolicy.MessageExpressionCondition{MessageExpression: v.MessageExpression},
			plugincel.OptionalVariableDeclarations{HasParams: hasParams}, s.messages.Has(v.MessageExpression), path.Child("messageExpression"))...)
	}
	message := strings.TrimSpace(v.Message)
	if v.Message != "" && message == "" {
		allErrors = append(allErrors, field.Invalid(path.Child("message"), v.Message, "must be non-empty if specified"))
	} else if newlines.MatchString(message) {
		allErrors = append(allErrors, field.Invalid(path.Child("message"), v.Message, "must not contain line breaks"))
	}
	if v.Reason != nil && !reasons.Has(string(*v.Reason)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("reason"), *v.Reason, sets.List(reasons)))
	}
	return allErrors
}

func validateAuditAnnotation(compiler plugincel.Compiler, policyName string, a *admissionregistrationv1.AuditAnnotation, hasParams bool, s stored, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if policyName != "" {
		allErrors = append(allErrors, validation.QualifiedName(policyName+"/"+a.Key, path.Child("key"))...)
	} else {
		allErrors = append(allErrors, field.Invalid(path.Child("key"), a.Key, "requires metadata.name be non-empty"))
	}
	value := strings.TrimSpace(a.ValueExpression)
	switch {
	case value == "":
		allErrors = append(allErrors, field.Required(path.Child("valueExpression"), "valueExpression is not specified"))
	case len(value) > maxAuditAnnotationValueExpressionLength:
		allErrors = append(allErrors, field.Required(path.Child("valueExpression"), fmt.Sprintf("must not exceed %d bytes in length", maxAuditAnnotationValueExpressionLength)))
	default:
		envType := environment.NewExpressions
		if s.auditAnnotations.Has(a.ValueExpression) {
			envType = environment.StoredExpressions
		}
		result := compiler.CompileCELExpression(&validatingpolicy.AuditAnnotationCondition{ValueExpression: value},
			plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true}, envType)
		if result.Error != nil {
			allErrors = append(allErrors, validation.CELError(path.Child("valueExpression"), a.ValueExpression, result.Error))
		}
	}
	return allErrors
}

func validateBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) field.ErrorList {
	allErrors := validateBindingCommon(&b.ObjectMeta, b.Spec.PolicyName, b.Spec.ParamRef, b.Spec.MatchResources)
	return append(allErrors, validateValidationActions(b.Spec.ValidationActions, field.NewPath("spec", "validationActions"))...)
}

// validateBindingCommon is what both binding kinds check, in kube's order.
func validateBindingCommon(meta *metav1.ObjectMeta, policyName string, ref *admissionregistrationv1.ParamRef, match *admissionregistrationv1.MatchResources) field.ErrorList {
	allErrors := apivalidation.ValidateObjectMeta(meta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	path := field.NewPath("spec")
	allErrors = append(allErrors, validatePolicyName(policyName, path.Child("policyName"))...)
	allErrors = append(allErrors, validateParamRef(ref, path.Child("paramRef"))...)
	return append(allErrors, validateMatchResources(match, path.Child("matchResources"))...)
}

func validateParamRef(ref *admissionregistrationv1.ParamRef, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if ref == nil {
		return nil
	}
	if ref.Name != "" {
		for _, msg := range content.IsPathSegmentName(ref.Name) {
			allErrors = append(allErrors, field.Invalid(path.Child("name"), ref.Name, msg))
		}
		if ref.Selector != nil {
			allErrors = append(allErrors, field.Forbidden(path.Child("name"), `name and selector are mutually exclusive`))
		}
	}
	if ref.Selector != nil {
		allErrors = append(allErrors, metav1validation.ValidateLabelSelector(ref.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
		if ref.Name != "" {
			allErrors = append(allErrors, field.Forbidden(path.Child("selector"), `name and selector are mutually exclusive`))
		}
	}
	if ref.Name == "" && ref.Selector == nil {
		allErrors = append(allErrors, field.Required(path, `one of name or selector must be specified`))
	}
	if ref.ParameterNotFoundAction == nil || *ref.ParameterNotFoundAction == "" {
		allErrors = append(allErrors, field.Required(path.Child("parameterNotFoundAction"), ""))
	} else if a := *ref.ParameterNotFoundAction; a != admissionregistrationv1.DenyAction && a != admissionregistrationv1.AllowAction {
		allErrors = append(allErrors, field.NotSupported(path.Child("parameterNotFoundAction"), ref.ParameterNotFoundAction,
			[]string{string(admissionregistrationv1.DenyAction), string(admissionregistrationv1.AllowAction)}))
	}
	return allErrors
}

func validateValidationActions(actions []admissionregistrationv1.ValidationAction, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	seen := sets.New[string]()
	for i, a := range actions {
		if !validationActions.Has(string(a)) {
			allErrors = append(allErrors, field.NotSupported(path.Index(i), a, sets.List(validationActions)))
		}
		if seen.Has(string(a)) {
			allErrors = append(allErrors, field.Duplicate(path.Index(i), a))
		}
		seen.Insert(string(a))
	}
	if seen.Has(string(admissionregistrationv1.Deny)) && seen.Has(string(admissionregistrationv1.Warn)) {
		allErrors = append(allErrors, field.Invalid(path, actions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	if len(seen) == 0 {
		allErrors = append(allErrors, field.Required(path, "at least one validation action is required"))
	}
	return allErrors
}

func validateStatus(status *admissionregistrationv1.ValidatingAdmissionPolicyStatus) field.ErrorList {
	path := field.NewPath("status")
	var allErrors field.ErrorList
	if status.TypeChecking != nil {
		for i, w := range status.TypeChecking.ExpressionWarnings {
			p := path.Child("typeChecking", "expressionWarnings").Index(i)
			if w.Warning == "" {
				allErrors = append(allErrors, field.Required(p.Child("warning"), ""))
			}
			if ref := strings.TrimSpace(w.FieldRef); ref == "" {
				allErrors = append(allErrors, field.Required(p.Child("fieldRef"), ""))
			} else if err := jsonpath.New("spec").Parse(fmt.Sprintf("{%s}", ref)); err != nil {
				allErrors = append(allErrors, field.Invalid(p.Child("fieldRef"), ref, fmt.Sprintf("invalid JSONPath: %v", err)))
			}
		}
	}
	return append(allErrors, metav1validation.ValidateConditions(status.Conditions, path.Child("conditions"))...)
}

// compositedCompiler is a compiler that keeps the variables it compiled,
// new for each policy (kube's createCompiler(true)).
func compositedCompiler() plugincel.Compiler {
	composited, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		// Never seen: the base environment always builds.
		utilruntime.HandleError(err)
		return validation.StrictCompiler()
	}
	return composited
}

func validatePolicyName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var allErrors field.ErrorList
	for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
		allErrors = append(allErrors, field.Invalid(path, name, msg))
	}
	return allErrors
}

// validateSpecCommon checks what both kinds of policy have, in kube's
// order: failurePolicy, paramKind, matchConstraints (and constraints'
// checks of the kind's own), matchConditions.
func validateSpecCommon(failure *admissionregistrationv1.FailurePolicyType, kind *admissionregistrationv1.ParamKind,
	match *admissionregistrationv1.MatchResources, conditions []admissionregistrationv1.MatchCondition, s stored, path *field.Path,
	constraints func(*admissionregistrationv1.MatchResources) field.ErrorList) field.ErrorList {
	var allErrors field.ErrorList
	if failure == nil {
		allErrors = append(allErrors, field.Required(path.Child("failurePolicy"), ""))
	} else if !validation.FailurePolicies.Has(string(*failure)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("failurePolicy"), *failure, sets.List(validation.FailurePolicies)))
	}
	if kind != nil {
		allErrors = append(allErrors, validateParamKind(*kind, path.Child("paramKind"))...)
	}
	if match == nil {
		allErrors = append(allErrors, field.Required(path.Child("matchConstraints"), ""))
	} else {
		allErrors = append(allErrors, validateMatchResources(match, path.Child("matchConstraints"))...)
		// At least one resource rule gives the expressions their types.
		if len(match.ResourceRules) == 0 {
			allErrors = append(allErrors, field.Required(path.Child("matchConstraints", "resourceRules"), ""))
		}
		if constraints != nil {
			allErrors = append(allErrors, constraints(match)...)
		}
	}
	if !s.ignoreMatchConditions {
		allErrors = append(allErrors, validation.MatchConditions(conditions, s.matchConditions, kind != nil, path.Child("matchConditions"))...)
	}
	return allErrors
}
