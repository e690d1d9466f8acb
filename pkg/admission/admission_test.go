package admission

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	o := NewOptions([]string{"default"})
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

// The flags are kube-apiserver's: its default set, in its fixed order
// whatever order the flag names them in, and its errors for unknown or
// overlapping names.
func TestPluginFlags(t *testing.T) {
	o := parse(t)
	if errs := o.Validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
	want := []string{"NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition", "PodSecurity", "Priority",
		"DefaultTolerationSeconds", "DefaultStorageClass", "StorageObjectInUseProtection", "PodGroupProtection",
		"PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval", "CertificateSigning", "ClusterTrustBundleAttest",
		"CertificateSubjectRestriction", "DefaultIngressClass", "PodTopologyLabels", "NodeDeclaredFeatureValidator",
		"PodResizeValidator", "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
		"ValidatingAdmissionWebhook", "ResourceQuota"}
	if got := o.Enabled(); !slices.Equal(got, want) {
		t.Errorf("default plugins\n got %v\nwant %v", got, want)
	}
	o = parse(t, "--enable-admission-plugins=AlwaysDeny,NamespaceExists", "--disable-admission-plugins=ServiceAccount,MutatingAdmissionWebhook")
	got := o.Enabled()
	if slices.Contains(got, "ServiceAccount") || slices.Contains(got, "MutatingAdmissionWebhook") ||
		slices.Index(got, "NamespaceExists") != 1 || got[len(got)-1] != "AlwaysDeny" {
		t.Errorf("enabled %v: want NamespaceExists second, AlwaysDeny last, ServiceAccount and the mutating webhook off", got)
	}
	if absent := o.Absent(); !slices.Contains(absent, "NamespaceExists") || slices.Contains(absent, "AlwaysDeny") || slices.Contains(absent, "PodSecurity") {
		t.Errorf("absent %v: want NamespaceExists, not AlwaysDeny or PodSecurity", absent)
	}
	// The deprecated --admission-control: exactly the plugins it names, in
	// kube's order.
	o = parse(t, "--admission-control=ValidatingAdmissionPolicy,NamespaceLifecycle,ServiceAccount")
	if errs := o.Validate(); len(errs) != 0 {
		t.Fatalf("--admission-control: %v", errs)
	}
	if got, want := o.Enabled(), []string{"NamespaceLifecycle", "ServiceAccount", "ValidatingAdmissionPolicy"}; !slices.Equal(got, want) {
		t.Errorf("--admission-control: enabled %v, want %v", got, want)
	}
	for want, args := range map[string][]string{
		`admission-control plugin "Nope" is unknown`: {"--admission-control=Nope"},
		"admission-control and enable-admission-plugins/disable-admission-plugins flags are mutually exclusive": {
			"--admission-control=PodSecurity", "--disable-admission-plugins=ServiceAccount"},
		`enable-admission-plugins plugin "Nope" is unknown`:  {"--enable-admission-plugins=Nope"},
		`disable-admission-plugins plugin "Nope" is unknown`: {"--disable-admission-plugins=Nope"},
		"[PodSecurity] in enable-admission-plugins and disable-admission-plugins overlapped": {
			"--enable-admission-plugins=PodSecurity", "--disable-admission-plugins=PodSecurity"},
	} {
		if errs := parse(t, args...).Validate(); len(errs) == 0 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: %v, want %q", args, errs, want)
		}
	}
}

// A configuration file that does not parse is refused, naming the file.
func TestConfigFileErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admission.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins: [{name: PodSecurity, path: missing.yaml}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := parse(t, "--admission-control-config-file="+path)
	errs := o.Validate()
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "missing.yaml") {
		t.Errorf("config naming a missing file: %v", errs)
	}
}
