// Command keepalived-cloud-provider is a cloud-controller-manager for bare-metal clusters:
// it gives type LoadBalancer Services addresses from operator pools and publishes them
// to kube-keepalived-vip. This file is wiring only.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/wait"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/names"
	"k8s.io/cloud-provider/options"
	"k8s.io/component-base/cli"
	cliflag "k8s.io/component-base/cli/flag"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/component-base/metrics/legacyregistry"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics on /metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // build info on /metrics
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/buildinfo"
	"github.com/munnerz/keepalived-cloud-provider/pkg/fencing"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/provider"
)

func main() {
	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building options: %v\n", err)
		os.Exit(1)
	}
	provider.ApplyDefaults(opts)

	var keepalived provider.Options
	var cfg provider.Config
	var warnings []string
	flags := cliflag.NamedFlagSets{}
	keepalived.AddFlags(flags.FlagSet("keepalived"))
	initNodes := addInitializeNodesFlag(flags.FlagSet("keepalived"))

	initCloud := func(cc *config.CompletedConfig) cloudprovider.Interface {
		for _, w := range warnings {
			klog.InfoS("Adjusted configuration", "warning", w)
		}
		return provider.NewCloud(cfg, provider.NewMetrics(legacyregistry.MustRegister), fenceLeaderElection(cc))
	}
	cmd := app.NewCloudControllerManagerCommand(opts, initCloud, controllerConstructors(&cfg),
		names.CCMControllerAliases(), flags, wait.NeverStop)
	cmd.Use = "keepalived-cloud-provider"
	// Validate our settings before the controller manager starts, so a bad value
	// stops the process at once with every problem listed.
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if buildinfo.PrintIfUnstamped(cmd.Flags(), cmd.Use, func(s string) { fmt.Fprintln(cmd.OutOrStdout(), s) }) {
			os.Exit(0)
		}
		if f := cmd.Flags().Lookup("version"); f != nil && f.Value.String() != "false" {
			return nil // --version needs no configuration
		}
		keepalived.Complete(os.LookupEnv)
		cfg, warnings, err = keepalived.Validate()
		return err
	}
	cmd.PreRunE = initNodes.wrap(cmd.PreRunE, &opts.Generic.Controllers)
	cmd.AddCommand(checkPoolsCommand())
	os.Exit(cli.Run(cmd))
}

// fenceLeaderElection puts every client built from here on (the leader elector's,
// the controllers', ours) behind a fence that shuts while this replica is not
// certain to hold the lease. Without leader election there is nothing to fence.
func fenceLeaderElection(cc *config.CompletedConfig) *fencing.Fence {
	le := cc.ComponentConfig.Generic.LeaderElection
	if !le.LeaderElect {
		return nil
	}
	fence := fencing.New(le.ResourceNamespace, le.ResourceName, le.RenewDeadline.Duration)
	cc.Kubeconfig.Wrap(fence.Wrap)
	return fence
}

// checkPoolsCommand validates a pools file and exits, so an operator can check an
// edit before applying it instead of finding out from a crash-looping restart.
func checkPoolsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check-pools FILE",
		Short: "Check a pools file and exit: 0 if valid, 1 with every problem listed if not",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			pools, warnings, err := poolconfig.LoadDualStack(args[0])
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				os.Exit(1) // a plain message for the operator, not a log record
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid, %d pools\n", args[0], len(pools.Pools))
			return nil
		},
	}
}
