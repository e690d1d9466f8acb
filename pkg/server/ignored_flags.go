package server

import (
	"sort"

	"github.com/spf13/pflag"
)

// IgnoredFlagsSet returns the kube-apiserver flags given on the command line
// that have no effect here, sorted.
func (o *Options) IgnoredFlagsSet() []string { return o.ignored.set() }

// ignoredFlags are kube-apiserver flags that name things mini-apiserver does
// not have (kubelets, service IPs, the aggregation layer). They are accepted so that a kube-apiserver command
// line starts, and named in one start-up warning.
type ignoredFlags struct {
	fs *pflag.FlagSet
}

var ignoredBoolFlags = []string{
	"allow-privileged", "enable-bootstrap-token-auth", "enable-aggregator-routing",
	"enable-logs-handler", "endpoint-reconciler-type-lease",
}

var ignoredStringFlags = []string{
	"apiserver-count", "endpoint-reconciler-type", "kubelet-certificate-authority",
	"kubelet-client-certificate", "kubelet-client-key", "kubelet-preferred-address-types", "kubelet-timeout",
	"proxy-client-cert-file", "proxy-client-key-file", "requestheader-allowed-names", "requestheader-client-ca-file",
	"requestheader-extra-headers-prefix", "requestheader-group-headers", "requestheader-uid-headers",
	"requestheader-username-headers", "service-cluster-ip-range", "service-node-port-range",
}

func newIgnoredFlags() *ignoredFlags { return &ignoredFlags{} }

func (f *ignoredFlags) addFlags(fs *pflag.FlagSet) {
	f.fs = fs
	for _, name := range ignoredBoolFlags {
		fs.Bool(name, false, "Accepted for kube-apiserver compatibility; has no effect in mini-apiserver.")
	}
	for _, name := range ignoredStringFlags {
		// StringArray: several of these may be repeated on a kube command line.
		fs.StringArray(name, nil, "Accepted for kube-apiserver compatibility; has no effect in mini-apiserver.")
	}
}

func (f *ignoredFlags) set() []string {
	if f.fs == nil {
		return nil
	}
	var names []string
	// The command parses a merged flag set; Changed is shared with ours.
	f.fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			names = append(names, "--"+fl.Name)
		}
	})
	sort.Strings(names)
	return names
}
