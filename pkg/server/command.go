package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mini-apiserver/mini-apiserver/pkg/auth"
	"github.com/spf13/cobra"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/cli/globalflag"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/term"
	"k8s.io/component-base/version/verflag"
	"k8s.io/klog/v2"
)

// NewCommand returns the mini-apiserver command, with kube-apiserver's flag
// sections, --version and logging flags.
func NewCommand() *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "mini-apiserver",
		Short: "A small, real Kubernetes API server with the complete audit pipeline",
		Long: `mini-apiserver serves core/v1 Pods, Namespaces, ConfigMaps and Secrets, and RBAC, over HTTPS at the same URLs as kube-apiserver,
stores them in etcd (embedded unless --etcd-servers is given) and takes kube-apiserver's flags.

With no certificates and no authentication flags it generates a CA, a serving certificate and an
admin client credential in --data-dir, and writes <data-dir>/admin.kubeconfig for kubectl.`,
		SilenceUsage: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Apply --feature-gates and --emulated-version before anything reads them.
			err := compatibility.DefaultComponentGlobalsRegistry.Set()
			if err != nil && strings.Contains(err.Error(), "unrecognized feature gate: AdvancedAuditing") {
				// kube-apiserver's refusal stands; older tutorials still set it.
				fmt.Fprintln(cmd.ErrOrStderr(), advancedAuditingHint)
			}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			verflag.PrintAndExitIfRequested()
			if err := logsapi.ValidateAndApply(o.Logs, utilfeature.DefaultFeatureGate); err != nil {
				return err
			}
			cliflag.PrintFlags(cmd.Flags())
			if len(args) > 0 {
				return fmt.Errorf("%q does not take any arguments, got %q", cmd.CommandPath(), args)
			}
			completed, err := o.Complete()
			if err != nil {
				return err
			}
			if err := completed.Validate(); err != nil {
				return err
			}
			ctx := genericapiserver.SetupSignalContext()
			return Run(ctx, completed, cmd.OutOrStdout())
		},
	}
	fss := o.Flags()
	global := fss.FlagSet("global")
	verflag.AddFlags(global)
	globalflag.AddGlobalFlags(global, cmd.Name(), logs.SkipLoggingConfigurationFlags())
	compatibility.DefaultComponentGlobalsRegistry.AddFlags(global)
	for _, f := range fss.FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}

// advancedAuditingHint follows kube's refusal of a gate older audit
// tutorials set.
const advancedAuditingHint = "mini-apiserver: the AdvancedAuditing feature gate went GA in Kubernetes 1.12 and was removed in 1.28; " +
	"auditing is on when --audit-policy-file names a policy (with --audit-log-path or --audit-webhook-config-file for where events go)."

// Run starts the server from completed, validated options and serves until
// ctx is done or the server fails. out receives the kubeconfig line.
func Run(ctx context.Context, o CompletedOptions, out io.Writer) error {
	ignored := o.IgnoredFlagsSet()
	for _, key := range ignoredRuntimeConfig(o.APIEnablement.RuntimeConfig) {
		ignored = append(ignored, "--runtime-config="+key)
	}
	if slices.Contains(o.Authorization.Modes, auth.ModeNode) {
		ignored = append(ignored, "--authorization-mode=Node (there are no nodes: the Node authorizer has no opinion)")
	}
	if len(ignored) > 0 {
		klog.Warningf("These kube-apiserver flags have no effect in mini-apiserver and are ignored: %s", strings.Join(ignored, ", "))
	}
	inst, err := Start(ctx, o, WithIdleMemoryReturned())
	if err != nil {
		return err
	}
	klog.InfoS("Serving", "url", inst.URL, "dataDir", inst.DataDir, "kubeconfig", inst.KubeconfigPath)
	fmt.Fprintf(out, "export KUBECONFIG=%s\n", inst.KubeconfigPath)
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}
	select {
	case <-ctx.Done():
	case <-inst.Done():
	}
	return inst.Close()
}

func init() {
	// Logging's feature gates (ContextualLogging, ...) live in the shared
	// kube feature gate, as in kube-apiserver.
	utilruntime.Must(logsapi.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
}
