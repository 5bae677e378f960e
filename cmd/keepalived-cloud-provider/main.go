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

	"github.com/munnerz/keepalived-cloud-provider/internal/provider"
)

func main() {
	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building options: %v\n", err)
		os.Exit(1)
	}
	setDefaults(opts)

	var keepalived provider.Options
	var cfg provider.Config
	var warnings []string
	flags := cliflag.NamedFlagSets{}
	keepalived.AddFlags(flags.FlagSet("keepalived"))

	initCloud := func(*config.CompletedConfig) cloudprovider.Interface {
		for _, w := range warnings {
			klog.InfoS("Adjusted configuration", "warning", w)
		}
		return provider.NewCloud(cfg, provider.NewMetrics(legacyregistry.MustRegister))
	}
	cmd := app.NewCloudControllerManagerCommand(opts, initCloud, app.DefaultInitFuncConstructors,
		names.CCMControllerAliases(), flags, wait.NeverStop)
	cmd.Use = "keepalived-cloud-provider"
	// Validate our settings before the controller manager starts, so a bad value
	// stops the process at once with every problem listed.
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if f := cmd.Flags().Lookup("version"); f != nil && f.Value.String() != "false" {
			return nil // --version needs no configuration
		}
		keepalived.Complete(os.LookupEnv)
		cfg, warnings, err = keepalived.Validate()
		return err
	}
	os.Exit(cli.Run(cmd))
}

// setDefaults makes the upstream command ours. Flags still override every value.
func setDefaults(o *options.CloudControllerManagerOptions) {
	o.KubeCloudShared.CloudProvider.Name = provider.ProviderName
	o.Generic.LeaderElection.ResourceName = "keepalived-cloud-provider"
	// Nodes, routes and zones belong to the machines; only Services are ours.
	o.Generic.Controllers = []string{names.ServiceLBController}
	// No webhooks: nothing to serve on a second port.
	o.Webhook = nil
	o.WebhookServing = nil
	// The upstream defaults (20 QPS, burst 30, one worker) cap any provider at about
	// 5 Services/s, as the service controller makes 4 requests per Service.
	o.Generic.ClientConnection.QPS = 200
	o.Generic.ClientConnection.Burst = 400
	o.ServiceController.ConcurrentServiceSyncs = 10
}
