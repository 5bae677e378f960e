// Command nullprovider is the performance yardstick of test/bench: the upstream
// controller manager with our defaults, flags and imports, and a provider that does
// nothing but count. Whatever it costs, any provider inside k8s.io/cloud-provider/app
// costs. This file is wiring only.
package main

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/util/wait"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/names"
	"k8s.io/cloud-provider/options"
	"k8s.io/component-base/cli"
	cliflag "k8s.io/component-base/cli/flag"
	_ "k8s.io/component-base/logs/json/register"          // as ours: same flags
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as ours: client-go metrics cost per request
	_ "k8s.io/component-base/metrics/prometheus/version"

	"github.com/munnerz/keepalived-cloud-provider/pkg/provider"
)

func main() {
	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building options: %v\n", err)
		os.Exit(1)
	}
	// Our workers and client limits; the lease name stays ours, as the RBAC the
	// bench runs under grants that Lease only.
	provider.ApplyDefaults(opts)
	opts.KubeCloudShared.CloudProvider.Name = providerName

	// Our flags are accepted and ignored, so the bench passes both the same command line.
	flags := cliflag.NamedFlagSets{}
	new(provider.Options).AddFlags(flags.FlagSet("keepalived"))

	initCloud := func(*config.CompletedConfig) cloudprovider.Interface { return &cloud{} }
	cmd := app.NewCloudControllerManagerCommand(opts, initCloud, app.DefaultInitFuncConstructors,
		names.CCMControllerAliases(), flags, wait.NeverStop)
	cmd.Use = "nullprovider"
	os.Exit(cli.Run(cmd))
}
