package policytool

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/yaml"

	auditreg "github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1"
	"github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/validation"
)

// LoadSink reads an AuditSink manifest (YAML or JSON), defaults and
// validates it as the server would on create: unknown fields, a wrong
// apiVersion or kind and every validation error are named with the file.
func LoadSink(path string) (*auditreg.AuditSink, error) {
	data, err := readText(path)
	if err != nil {
		return nil, err
	}
	var typ metav1.TypeMeta
	if err := yaml.Unmarshal(data, &typ); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadInput, path, err)
	}
	if gv := auditreg.SchemeGroupVersion.String(); typ.APIVersion != gv || typ.Kind != "AuditSink" {
		return nil, fmt.Errorf("%s: apiVersion %q, kind %q: want %s AuditSink", path, typ.APIVersion, typ.Kind, gv)
	}
	sink := &auditreg.AuditSink{}
	if err := yaml.UnmarshalStrict(data, sink); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	auditreg.SetDefaultsAuditSink(sink)
	if errs := validation.Validate(sink); len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("%s: AuditSink %q is invalid: %s", path, sink.Name, strings.Join(msgs, "; "))
	}
	return sink, nil
}
