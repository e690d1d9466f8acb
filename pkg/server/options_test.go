package server

import (
	"testing"

	"github.com/spf13/pflag"
	genericoptions "k8s.io/apiserver/pkg/server/options"
)

// The audit flags are the library's own: same names, types, defaults and
// help text as kube-apiserver. This fails if they ever drift.
func TestAuditFlagsMatchLibrary(t *testing.T) {
	lib := pflag.NewFlagSet("lib", pflag.ContinueOnError)
	genericoptions.NewAuditOptions().AddFlags(lib)
	fss := NewOptions().Flags()
	ours := fss.FlagSet("auditing")

	count := 0
	lib.VisitAll(func(want *pflag.Flag) {
		count++
		got := ours.Lookup(want.Name)
		if got == nil {
			t.Errorf("--%s missing from the auditing section", want.Name)
			return
		}
		if got.Value.Type() != want.Value.Type() || got.DefValue != want.DefValue || got.Usage != want.Usage {
			t.Errorf("--%s: ours %s %q, library %s %q", want.Name, got.Value.Type(), got.DefValue, want.Value.Type(), want.DefValue)
		}
	})
	ours.VisitAll(func(f *pflag.Flag) {
		// kube-apiserver 1.13-1.18 had this one in the section too; the
		// library dropped it with the dynamic backend.
		// --audit-dynamic-batch-max-wait is ours (an options field there).
		if lib.Lookup(f.Name) == nil && f.Name != "audit-dynamic-configuration" && f.Name != "audit-dynamic-batch-max-wait" {
			t.Errorf("--%s in the auditing section is not a library audit flag", f.Name)
		}
	})
	if count < 30 {
		t.Errorf("only %d library audit flags seen", count)
	}
	for name, def := range map[string]string{
		"audit-log-maxsize": "100", "audit-log-maxbackup": "100", "audit-log-maxage": "366",
		"audit-log-mode": "blocking", "audit-webhook-mode": "batch", "audit-webhook-initial-backoff": "10s",
		"audit-log-format": "json", "audit-log-version": "audit.k8s.io/v1",
	} {
		if got := ours.Lookup(name).DefValue; got != def {
			t.Errorf("--%s default %q, want kube's %q", name, got, def)
		}
	}
}

func TestIgnoredFlagsAreReported(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	for _, f := range o.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse([]string{"--service-cluster-ip-range=10.0.0.0/16", "--allow-privileged", "--secure-port=7443"}); err != nil {
		t.Fatal(err)
	}
	got := o.IgnoredFlagsSet()
	if len(got) != 2 || got[0] != "--allow-privileged" || got[1] != "--service-cluster-ip-range" {
		t.Errorf("ignored flags %v", got)
	}
}

func TestDefaultsDifferFromTheLibraryOnlyWhereDocumented(t *testing.T) {
	o := NewOptions()
	if o.SecureServing.BindAddress.String() != "127.0.0.1" || o.SecureServing.BindPort != 6443 {
		t.Errorf("serving defaults %s:%d", o.SecureServing.BindAddress, o.SecureServing.BindPort)
	}
	if o.Etcd.StorageConfig.Prefix != "/registry" || o.Etcd.DefaultStorageMediaType != "application/vnd.kubernetes.protobuf" {
		t.Errorf("etcd defaults %q %q", o.Etcd.StorageConfig.Prefix, o.Etcd.DefaultStorageMediaType)
	}
	if o.Etcd.EnableGarbageCollection || o.Features.EnablePriorityAndFairness {
		t.Errorf("GC %t APF %t, want both off", o.Etcd.EnableGarbageCollection, o.Features.EnablePriorityAndFairness)
	}
}
