package webhookconfiguration

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/registry/admissionregistration/validation"
)

// The validation of k8s.io/kubernetes
// pkg/apis/admissionregistration/validation/validation.go for the webhook
// configurations, on the v1 types, with its messages. Both kinds' webhooks
// are read through one view, hook, so each rule is written once.

// hook is what a MutatingWebhook and a ValidatingWebhook share, and the
// mutating one's reinvocationPolicy.
type hook struct {
	name                    string
	clientConfig            admissionregistrationv1.WebhookClientConfig
	rules                   []admissionregistrationv1.RuleWithOperations
	failurePolicy           *admissionregistrationv1.FailurePolicyType
	matchPolicy             *admissionregistrationv1.MatchPolicyType
	namespaceSelector       *metav1.LabelSelector
	objectSelector          *metav1.LabelSelector
	sideEffects             *admissionregistrationv1.SideEffectClass
	timeoutSeconds          *int32
	admissionReviewVersions []string
	matchConditions         []admissionregistrationv1.MatchCondition
	mutating                bool
	reinvocationPolicy      *admissionregistrationv1.ReinvocationPolicyType
}

func mutatingHooks(ws []admissionregistrationv1.MutatingWebhook) []hook {
	hooks := make([]hook, len(ws))
	for i, w := range ws {
		hooks[i] = hook{w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.MatchPolicy, w.NamespaceSelector, w.ObjectSelector,
			w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.MatchConditions, true, w.ReinvocationPolicy}
	}
	return hooks
}

func validatingHooks(ws []admissionregistrationv1.ValidatingWebhook) []hook {
	hooks := make([]hook, len(ws))
	for i, w := range ws {
		hooks[i] = hook{w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.MatchPolicy, w.NamespaceSelector, w.ObjectSelector,
			w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.MatchConditions, false, nil}
	}
	return hooks
}

// options are kube's validationOptions: an update keeps what the stored
// object already had (side effects, review versions, duplicate names,
// selectors, match conditions) valid.
type options struct {
	ignoreMatchConditions                   bool
	requireNoSideEffects                    bool
	requireRecognizedAdmissionReviewVersion bool
	requireUniqueWebhookNames               bool
	allowInvalidLabelValueInSelector        bool
	preexistingMatchConditions              sets.Set[string]
}

var createOptions = options{requireNoSideEffects: true, requireRecognizedAdmissionReviewVersion: true, requireUniqueWebhookNames: true}

func updateOptions(hooks, old []hook) options {
	o := options{
		ignoreMatchConditions:                   len(hooks) == len(old),
		requireNoSideEffects:                    true,
		requireRecognizedAdmissionReviewVersion: true,
		requireUniqueWebhookNames:               true,
		preexistingMatchConditions:              sets.New[string](),
	}
	names := sets.New[string]()
	for i, h := range old {
		if o.ignoreMatchConditions && !reflect.DeepEqual(hooks[i].matchConditions, h.matchConditions) {
			o.ignoreMatchConditions = false
		}
		if h.sideEffects == nil || !noSideEffectClasses.Has(string(*h.sideEffects)) {
			o.requireNoSideEffects = false
		}
		if len(h.admissionReviewVersions) > 0 && !slices.ContainsFunc(h.admissionReviewVersions, acceptedAdmissionReviewVersions.Has) {
			o.requireRecognizedAdmissionReviewVersion = false
		}
		if names.Has(h.name) {
			o.requireUniqueWebhookNames = false
		}
		names.Insert(h.name)
		for _, s := range []*metav1.LabelSelector{h.namespaceSelector, h.objectSelector} {
			if s != nil && len(metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0 {
				o.allowInvalidLabelValueInSelector = true
			}
		}
		for _, m := range h.matchConditions {
			o.preexistingMatchConditions.Insert(m.Expression)
		}
	}
	return o
}

// staticConfigSuffix ends the names reserved for manifest-based admission
// configuration (ManifestBasedAdmissionControlConfig, on in 1.37).
const staticConfigSuffix = ".static.k8s.io"

func validateConfiguration(meta *metav1.ObjectMeta, hooks []hook, opts options) field.ErrorList {
	allErrors := apivalidation.ValidateObjectMeta(meta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	names := sets.New[string]()
	for i := range hooks {
		path := field.NewPath("webhooks").Index(i)
		allErrors = append(allErrors, validateHook(&hooks[i], opts, path)...)
		allErrors = append(allErrors, validateAdmissionReviewVersions(hooks[i].admissionReviewVersions, opts.requireRecognizedAdmissionReviewVersion, path.Child("admissionReviewVersions"))...)
		if name := hooks[i].name; opts.requireUniqueWebhookNames && name != "" {
			if names.Has(name) {
				allErrors = append(allErrors, field.Duplicate(path.Child("name"), name))
			}
			names.Insert(name)
		}
	}
	return allErrors
}

func validateStaticSuffix(name string) field.ErrorList {
	if strings.HasSuffix(name, staticConfigSuffix) {
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), name,
			fmt.Sprintf("names ending with %q are reserved for static manifest-based configurations and cannot be managed via the API", staticConfigSuffix))}
	}
	return nil
}

var (
	supportedReinvocationPolicies = sets.New(string(admissionregistrationv1.NeverReinvocationPolicy), string(admissionregistrationv1.IfNeededReinvocationPolicy))
	supportedSideEffectClasses    = sets.New(string(admissionregistrationv1.SideEffectClassUnknown), string(admissionregistrationv1.SideEffectClassNone),
		string(admissionregistrationv1.SideEffectClassSome), string(admissionregistrationv1.SideEffectClassNoneOnDryRun))
	noSideEffectClasses = sets.New(string(admissionregistrationv1.SideEffectClassNone), string(admissionregistrationv1.SideEffectClassNoneOnDryRun))
	// acceptedAdmissionReviewVersions are the AdmissionReview versions the
	// server sends, in kube's order.
	acceptedAdmissionReviewVersionList = []string{"v1", "v1beta1"}
	acceptedAdmissionReviewVersions    = sets.New(acceptedAdmissionReviewVersionList...)
)

func validateHook(h *hook, opts options, path *field.Path) field.ErrorList {
	allErrors := utilvalidation.IsFullyQualifiedName(path.Child("name"), h.name)
	for i := range h.rules {
		allErrors = append(allErrors, validation.RuleWithOperations(&h.rules[i], path.Child("rules").Index(i))...)
	}
	if h.failurePolicy != nil && !validation.FailurePolicies.Has(string(*h.failurePolicy)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("failurePolicy"), *h.failurePolicy, sets.List(validation.FailurePolicies)))
	}
	if h.matchPolicy != nil && !validation.MatchPolicies.Has(string(*h.matchPolicy)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("matchPolicy"), *h.matchPolicy, sets.List(validation.MatchPolicies)))
	}
	allowedSideEffects := supportedSideEffectClasses
	if opts.requireNoSideEffects {
		allowedSideEffects = noSideEffectClasses
	}
	if h.sideEffects == nil {
		allErrors = append(allErrors, field.Required(path.Child("sideEffects"), fmt.Sprintf("must specify one of %v", strings.Join(sets.List(allowedSideEffects), ", "))))
	} else if !allowedSideEffects.Has(string(*h.sideEffects)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("sideEffects"), *h.sideEffects, sets.List(allowedSideEffects)))
	}
	if h.timeoutSeconds != nil && (*h.timeoutSeconds > 30 || *h.timeoutSeconds < 1) {
		allErrors = append(allErrors, field.Invalid(path.Child("timeoutSeconds"), *h.timeoutSeconds, "the timeout value must be between 1 and 30 seconds"))
	}
	selectorOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValueInSelector}
	if h.namespaceSelector != nil {
		allErrors = append(allErrors, metav1validation.ValidateLabelSelector(h.namespaceSelector, selectorOpts, path.Child("namespaceSelector"))...)
	}
	if h.objectSelector != nil {
		allErrors = append(allErrors, metav1validation.ValidateLabelSelector(h.objectSelector, selectorOpts, path.Child("objectSelector"))...)
	}
	if h.mutating && h.reinvocationPolicy != nil && !supportedReinvocationPolicies.Has(string(*h.reinvocationPolicy)) {
		allErrors = append(allErrors, field.NotSupported(path.Child("reinvocationPolicy"), *h.reinvocationPolicy, sets.List(supportedReinvocationPolicies)))
	}
	cc := h.clientConfig
	switch {
	case (cc.URL == nil) == (cc.Service == nil):
		allErrors = append(allErrors, field.Required(path.Child("clientConfig"), "exactly one of url or service is required"))
	case cc.URL != nil:
		allErrors = append(allErrors, webhook.ValidateWebhookURL(path.Child("clientConfig").Child("url"), *cc.URL, true)...)
	case cc.Service != nil:
		allErrors = append(allErrors, webhook.ValidateWebhookService(path.Child("clientConfig").Child("service"), cc.Service.Name, cc.Service.Namespace, cc.Service.Path, ptr.Deref(cc.Service.Port, 443))...)
	}
	if !opts.ignoreMatchConditions {
		allErrors = append(allErrors, validation.MatchConditions(h.matchConditions, opts.preexistingMatchConditions, false, path.Child("matchConditions"))...)
	}
	return allErrors
}

func validateAdmissionReviewVersions(versions []string, requireRecognized bool, path *field.Path) field.ErrorList {
	var allErrors field.ErrorList
	if len(versions) < 1 {
		return append(allErrors, field.Required(path, fmt.Sprintf("must specify one of %v", strings.Join(acceptedAdmissionReviewVersionList, ", "))))
	}
	seen := sets.New[string]()
	hasAccepted := false
	for i, v := range versions {
		if seen.Has(v) {
			allErrors = append(allErrors, field.Invalid(path.Index(i), v, "duplicate version"))
			continue
		}
		seen.Insert(v)
		for _, msg := range utilvalidation.IsDNS1035Label(v) {
			allErrors = append(allErrors, field.Invalid(path.Index(i), v, msg))
		}
		hasAccepted = hasAccepted || acceptedAdmissionReviewVersions.Has(v)
	}
	if requireRecognized && !hasAccepted {
		allErrors = append(allErrors, field.Invalid(path, versions, fmt.Sprintf("must include at least one of %v", strings.Join(acceptedAdmissionReviewVersionList, ", "))))
	}
	return allErrors
}

// warnings are kube's (webhook rules naming a resource webhooks never see)
// and ours: a webhook reached through a Service cannot be, here.
func warnings(hooks []hook, excluded []schema.GroupResource) []string {
	var out []string
	for i, h := range hooks {
		path := field.NewPath("webhooks").Index(i)
		for j, r := range h.rules {
			if slices.Contains(r.APIGroups, "*") || slices.Contains(r.Resources, "*") {
				continue
			}
			seen := sets.New[schema.GroupResource]()
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					gr := schema.GroupResource{Group: g, Resource: res}
					if slices.Contains(excluded, gr) && !seen.Has(gr) {
						seen.Insert(gr)
						out = append(out, fmt.Sprintf("%s: %s is excluded from admission webhooks; this rule will have no effect", path.Child("rules").Index(j), gr))
					}
				}
			}
		}
		if s := h.clientConfig.Service; s != nil && !(s.Namespace == "default" && s.Name == "kubernetes") {
			out = append(out, fmt.Sprintf("%s: mini-apiserver has no Services, so service %s/%s cannot be reached: calls to this webhook fail (failurePolicy decides); use clientConfig.url",
				path.Child("clientConfig", "service"), s.Namespace, s.Name))
		}
	}
	return out
}
