// Package server assembles mini-apiserver from k8s.io/apiserver parts:
// Options (flags) -> Complete -> Validate -> Config -> New -> Run.
package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	netutils "k8s.io/utils/net"

	"github.com/mini-apiserver/mini-apiserver/pkg/admission"
	"github.com/mini-apiserver/mini-apiserver/pkg/auth"
	saauth "github.com/mini-apiserver/mini-apiserver/pkg/auth/serviceaccount"
)

// Options are mini-apiserver's flags. Every group but DataDir and the
// ignored kube-apiserver flags is k8s.io/apiserver's own option struct, so
// names, defaults and validation are kube-apiserver's.
type Options struct {
	// DataDir holds the embedded etcd, generated certificates and the admin
	// kubeconfig.
	DataDir string
	// EventTTL is how long an event is kept: its etcd lease.
	EventTTL time.Duration
	// IdentityHostname is the host name the apiserver identity is derived
	// from; empty, the machine's.
	IdentityHostname string

	GenericServerRun *genericoptions.ServerRunOptions
	SecureServing    *genericoptions.SecureServingOptionsWithLoopback
	Etcd             *genericoptions.EtcdOptions
	Features         *genericoptions.FeatureOptions
	Audit            *genericoptions.AuditOptions
	Logs             *logs.Options

	Authentication  *auth.AuthenticationOptions
	ServiceAccounts *saauth.Options
	Authorization   *auth.AuthorizationOptions
	Admission       *admission.Options
	DynamicAudit    *DynamicAuditOptions
	APIEnablement   *genericoptions.APIEnablementOptions

	ignored *ignoredFlags
}

// defaultEtcdPrefix is kube-apiserver's --etcd-prefix default.
const defaultEtcdPrefix = "/registry"

// NewOptions returns the defaults of mini-apiserver.
func NewOptions() *Options {
	o := &Options{
		GenericServerRun: genericoptions.NewServerRunOptions(),
		SecureServing:    genericoptions.NewSecureServingOptions().WithLoopback(),
		Etcd:             genericoptions.NewEtcdOptions(storagebackend.NewDefaultConfig(defaultEtcdPrefix, nil)),
		Features:         genericoptions.NewFeatureOptions(),
		Audit:            genericoptions.NewAuditOptions(),
		Logs:             logs.NewOptions(),
		Authentication:   auth.NewAuthenticationOptions(),
		ServiceAccounts:  saauth.NewOptions(),
		Authorization:    auth.NewAuthorizationOptions(),
		Admission:        admission.NewOptions(SystemNamespaces),
		DynamicAudit:     NewDynamicAuditOptions(),
		APIEnablement:    genericoptions.NewAPIEnablementOptions(),
		ignored:          newIgnoredFlags(),
		EventTTL:         time.Hour,
	}
	// kube-apiserver's defaults, where the library's differ from them.
	o.SecureServing.BindPort = 6443
	o.SecureServing.Required = true
	o.SecureServing.ServerCert.PairName = "apiserver"
	// Generated certificates live in the data directory (see Complete).
	o.SecureServing.ServerCert.CertDirectory = ""
	o.Etcd.DefaultStorageMediaType = "application/vnd.kubernetes.protobuf"
	// The one deliberate difference: a local tool listens on loopback only
	// unless asked otherwise.
	o.SecureServing.BindAddress = netutils.ParseIPSloppy("127.0.0.1")
	// There is no garbage collector: objects must not get GC finalizers.
	o.Etcd.EnableGarbageCollection = false
	// There is no flowcontrol.apiserver.k8s.io API to configure API Priority
	// and Fairness; the max-in-flight limits apply instead.
	o.Features.EnablePriorityAndFairness = false
	return o
}

// Flags returns the flags in kube-apiserver's named sections.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	gfs := fss.FlagSet("generic")
	o.GenericServerRun.AddUniversalFlags(gfs)
	gfs.StringVar(&o.DataDir, "data-dir", o.DataDir, ""+
		"Directory for the embedded etcd, generated certificates and admin.kubeconfig (created 0700). "+
		"Default: $XDG_STATE_HOME/mini-apiserver, or ~/.local/state/mini-apiserver.")
	gfs.StringVar(&o.IdentityHostname, "identity-hostname", o.IdentityHostname, ""+
		"Host name the apiserver identity (its Lease in kube-system) is derived from and labelled with, as kube-apiserver "+
		"derives it from the machine's. Default: the machine's host name. Give each server on one machine its own to run "+
		"several on one etcd: servers on one host name share one identity, as kube-apiservers on one host would.")
	o.Etcd.AddFlags(fss.FlagSet("etcd"))
	// kube-apiserver's, in its "misc" section.
	fss.FlagSet("misc").DurationVar(&o.EventTTL, "event-ttl", o.EventTTL, "Amount of time to retain events.")
	o.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	o.Audit.AddFlags(fss.FlagSet("auditing"))
	o.DynamicAudit.AddFlags(fss.FlagSet("auditing"))
	o.APIEnablement.AddFlags(fss.FlagSet("api enablement"))
	o.Features.AddFlags(fss.FlagSet("features"))
	o.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.ServiceAccounts.AddFlags(fss.FlagSet("authentication"))
	o.Authorization.AddFlags(fss.FlagSet("authorization"))
	o.Admission.AddFlags(fss.FlagSet("admission"))
	logsapi.AddFlags(o.Logs, fss.FlagSet("logs"))
	o.ignored.addFlags(fss.FlagSet("ignored kube-apiserver"))
	return fss
}

// completedOptions are the options with every default that depends on
// other flags or the environment filled in.
type completedOptions struct {
	*Options
	// generateServingCert is true when no --tls-cert-file was given: Config
	// generates a CA and serving certificate in the cert directory.
	generateServingCert bool
}

// CompletedOptions can only be made by Complete, so Validate and Config
// never see raw flags.
type CompletedOptions struct{ *completedOptions }

// Complete fills in defaults that depend on other flags or the environment.
// It writes nothing to disk: a command line that fails Validate leaves no
// trace.
func (o *Options) Complete() (CompletedOptions, error) {
	if o.DataDir == "" {
		dir, err := DefaultDataDir()
		if err != nil {
			return CompletedOptions{}, err
		}
		o.DataDir = dir
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return CompletedOptions{}, fmt.Errorf("--data-dir %s: %w", o.DataDir, err)
	}
	o.DataDir = abs
	o.Authentication.ApplyAuthorization(o.Authorization.Modes)
	if o.SecureServing.ServerCert.CertDirectory == "" {
		o.SecureServing.ServerCert.CertDirectory = filepath.Join(o.DataDir, "pki")
	}
	if err := o.GenericServerRun.Complete(); err != nil {
		return CompletedOptions{}, err
	}
	return CompletedOptions{&completedOptions{Options: o, generateServingCert: o.SecureServing.ServerCert.CertKey.CertFile == ""}}, nil
}

// DefaultDataDir is $XDG_STATE_HOME/mini-apiserver or
// ~/.local/state/mini-apiserver.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mini-apiserver"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --data-dir given and no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "mini-apiserver"), nil
}

// Validate checks every flag group and names the flag at fault. Files named
// by flags are read here once and kept for Config.
func (o CompletedOptions) Validate() error {
	var errs []error
	errs = append(errs, o.GenericServerRun.Validate()...)
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Features.Validate()...)
	errs = append(errs, o.Audit.Validate()...)
	errs = append(errs, o.validateAuditExtras()...)
	rc, err := o.resourceConfig()
	if err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, validateResourceConfig(rc)...)
	}
	errs = append(errs, o.DynamicAudit.Validate(err == nil && auditSinksEnabled(rc))...)
	if len(o.Etcd.StorageConfig.Transport.ServerList) > 0 {
		errs = append(errs, o.Etcd.Validate()...)
	} else if o.Etcd.StorageConfig.Transport.CertFile != "" || o.Etcd.StorageConfig.Transport.KeyFile != "" || o.Etcd.StorageConfig.Transport.TrustedCAFile != "" {
		errs = append(errs, errors.New("--etcd-cafile, --etcd-certfile and --etcd-keyfile need --etcd-servers"))
	}
	if o.Etcd.EnableGarbageCollection {
		errs = append(errs, errors.New("--enable-garbage-collector: mini-apiserver runs no garbage collector; the flag must be false"))
	}
	if o.Features.EnablePriorityAndFairness {
		errs = append(errs, errors.New("--enable-priority-and-fairness: mini-apiserver serves no flowcontrol.apiserver.k8s.io API; the flag must be false (--max-requests-inflight and --max-mutating-requests-inflight limit load)"))
	}
	if err := logsapi.Validate(o.Logs, nil, nil); len(err) > 0 {
		errs = append(errs, err.ToAggregate())
	}
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.ServiceAccounts.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	errs = append(errs, o.Admission.Validate()...)
	cert := o.SecureServing.ServerCert.CertKey
	if (cert.CertFile == "") != (cert.KeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file must be given together"))
	} else if cert.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("--tls-cert-file %s / --tls-private-key-file %s: %w", cert.CertFile, cert.KeyFile, err))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// validateAuditExtras catches what the library lets pass: a backend mode
// is only checked when its backend is on (a typo would surface later), and a
// webhook kubeconfig without a server only fails with a message about
// KUBERNETES_MASTER.
func (o CompletedOptions) validateAuditExtras() []error {
	var errs []error
	for flag, mode := range map[string]string{
		"--audit-log-mode": o.Audit.LogOptions.BatchOptions.Mode, "--audit-webhook-mode": o.Audit.WebhookOptions.BatchOptions.Mode,
	} {
		if !slices.Contains(genericoptions.AllowedModes, mode) {
			errs = append(errs, fmt.Errorf("%s %q: allowed modes are %s", flag, mode, strings.Join(genericoptions.AllowedModes, ", ")))
		}
	}
	if path := o.Audit.WebhookOptions.ConfigFile; path != "" {
		cfg, err := clientcmd.LoadFromFile(path)
		switch {
		case os.IsNotExist(err):
			errs = append(errs, fmt.Errorf("--audit-webhook-config-file: %w", err))
		case err != nil:
			errs = append(errs, fmt.Errorf("--audit-webhook-config-file %s: not a kubeconfig: %w", path, err))
		default:
			ctx, ok := cfg.Contexts[cfg.CurrentContext]
			var cluster *clientcmdapi.Cluster
			if ok {
				cluster = cfg.Clusters[ctx.Cluster]
			}
			if cluster == nil || cluster.Server == "" {
				errs = append(errs, fmt.Errorf("--audit-webhook-config-file %s: no receiver: the current context must name a cluster with a server URL", path))
			}
		}
	}
	return errs
}

// servingHosts are the names the generated serving certificate covers.
func (o CompletedOptions) servingHosts() ([]string, []net.IP) {
	hosts := []string{"localhost"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	if b := o.SecureServing.BindAddress; b != nil && !b.IsUnspecified() && !b.IsLoopback() {
		ips = append(ips, b)
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	return hosts, ips
}
