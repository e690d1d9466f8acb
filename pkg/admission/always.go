package admission

import (
	"context"
	"errors"
	"io"

	"k8s.io/apiserver/pkg/admission"
)

// kube's AlwaysAdmit and AlwaysDeny (plugin/pkg/admission/admit, deny):
// deprecated there, kept for command lines that name them.

type alwaysAdmit struct{}

func (alwaysAdmit) Handles(admission.Operation) bool { return true }
func (alwaysAdmit) Admit(context.Context, admission.Attributes, admission.ObjectInterfaces) error {
	return nil
}
func (alwaysAdmit) Validate(context.Context, admission.Attributes, admission.ObjectInterfaces) error {
	return nil
}

type alwaysDeny struct{}

var errDenyAll = errors.New("admission control is denying all modifications")

func (alwaysDeny) Handles(admission.Operation) bool { return true }
func (alwaysDeny) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	return admission.NewForbidden(a, errDenyAll)
}
func (alwaysDeny) Validate(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	return admission.NewForbidden(a, errDenyAll)
}

func registerAlways(plugins *admission.Plugins) {
	plugins.Register("AlwaysAdmit", func(io.Reader) (admission.Interface, error) { return alwaysAdmit{}, nil })
	plugins.Register("AlwaysDeny", func(io.Reader) (admission.Interface, error) { return alwaysDeny{}, nil })
}
