// Package validation validates AuditSinks, as k8s.io/kubernetes v1.18
// pkg/apis/auditregistration/validation did: the server's registry and
// auditctl explain --sink use it.
package validation

import (
	"net"
	"net/url"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/util/webhook"
	certutil "k8s.io/client-go/util/cert"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
)

// This file follows k8s.io/kubernetes v1.18
// pkg/apis/auditregistration/validation/validation.go, on the v1alpha1
// types, and adds what the issue asks beyond it: a caBundle must parse.

// Validate validates an AuditSink.
func Validate(as *auditreg.AuditSink) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&as.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validatePolicy(as.Spec.Policy, field.NewPath("spec", "policy"))...)
	return append(errs, validateWebhook(as.Spec.Webhook, field.NewPath("spec", "webhook"))...)
}

func validateWebhook(w auditreg.Webhook, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t := w.Throttle; t != nil {
		if t.QPS != nil && *t.QPS <= 0 {
			errs = append(errs, field.Invalid(path.Child("throttle", "qps"), t.QPS, "qps must be a positive number"))
		}
		if t.Burst != nil && *t.Burst <= 0 {
			errs = append(errs, field.Invalid(path.Child("throttle", "burst"), t.Burst, "burst must be a positive number"))
		}
	}
	cc := w.ClientConfig
	ccPath := path.Child("clientConfig")
	switch {
	case (cc.URL == nil) == (cc.Service == nil):
		errs = append(errs, field.Required(ccPath, "exactly one of url or service is required"))
	case cc.URL != nil:
		errs = append(errs, webhook.ValidateWebhookURL(ccPath.Child("url"), *cc.URL, false)...)
		// Upstream let any scheme through and lost every event of such a
		// sink; only what the webhook client speaks is accepted here.
		if u, err := url.Parse(*cc.URL); err == nil && u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, field.NotSupported(ccPath.Child("url"), u.Scheme, []string{"http", "https"}))
		}
	default:
		port := auditreg.DefaultServicePort
		if cc.Service.Port != nil {
			port = *cc.Service.Port
		}
		// Upstream passed name and namespace the other way round, so its
		// errors named the wrong field; they are in their places here.
		errs = append(errs, webhook.ValidateWebhookService(ccPath.Child("service"), cc.Service.Namespace, cc.Service.Name, cc.Service.Path, port)...)
	}
	if len(cc.CABundle) > 0 {
		if _, err := certutil.ParseCertsPEM(cc.CABundle); err != nil {
			errs = append(errs, field.Invalid(ccPath.Child("caBundle"), "<bytes>", "must be PEM-encoded certificates: "+err.Error()))
		}
	}
	return errs
}

var (
	validLevels = sets.New(string(auditreg.LevelNone), string(auditreg.LevelMetadata), string(auditreg.LevelRequest), string(auditreg.LevelRequestResponse))
	validStages = sets.New(auditreg.StageRequestReceived, auditreg.StageResponseStarted, auditreg.StageResponseComplete, auditreg.StagePanic)
)

func validatePolicy(p auditreg.Policy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, stage := range p.Stages {
		if !validStages.Has(string(stage)) {
			errs = append(errs, field.Invalid(path.Child("stages").Index(i), string(stage), "allowed stages are "+strings.Join(sets.List(validStages), ",")))
		}
	}
	switch {
	case p.Level == "":
		errs = append(errs, field.Required(path.Child("level"), ""))
	case !validLevels.Has(string(p.Level)):
		errs = append(errs, field.NotSupported(path.Child("level"), p.Level, sets.List(validLevels)))
	}
	if p.Level != auditreg.LevelNone && len(p.Stages) == 0 {
		// Upstream returns this error alone.
		return field.ErrorList{field.Required(path.Child("stages"), "")}
	}
	return errs
}

// Warnings are what is accepted, as upstream accepted it, but unsafe: a
// plain http URL to anything but loopback sends audit data unencrypted.
func Warnings(as *auditreg.AuditSink) []string {
	u := as.Spec.Webhook.ClientConfig.URL
	if u == nil {
		return nil
	}
	parsed, err := url.Parse(*u)
	if err != nil || parsed.Scheme != "http" {
		return nil
	}
	host := parsed.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return []string{"spec.webhook.clientConfig.url: " + *u + " is plain http to a host that is not loopback: audit data, request and response bodies included, travels unencrypted"}
}
