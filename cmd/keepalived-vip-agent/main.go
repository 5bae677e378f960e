// Command keepalived-vip-agent runs on every node that may carry LoadBalancer addresses:
// it reads the VIP ConfigMap the provider writes and runs keepalived so that each
// address is on one healthy node and moves within seconds when that node fails.
// This file is wiring only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/version/verflag"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent"
	"github.com/munnerz/keepalived-cloud-provider/pkg/buildinfo"
)

func main() {
	var opts agent.Options
	cmd := &cobra.Command{
		Use:   "keepalived-vip-agent",
		Short: "Announce the LoadBalancer addresses of the VIP ConfigMap with keepalived (VRRP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if buildinfo.PrintIfUnstamped(cmd.Flags(), cmd.Use, func(s string) { fmt.Fprintln(cmd.OutOrStdout(), s) }) {
				return nil
			}
			verflag.PrintAndExitIfRequested()
			opts.Complete(cmd.Flags(), os.LookupEnv)
			cfg, err := opts.Validate(os.Hostname)
			if err != nil {
				return err
			}
			return run(cmd, cfg)
		},
	}
	opts.AddFlags(cmd.Flags())
	verflag.AddFlags(cmd.Flags())
	cmd.SetContext(context.Background())
	os.Exit(cli.Run(cmd))
}

func run(cmd *cobra.Command, cfg agent.Config) error {
	klog.InfoS("keepalived-vip-agent", "version", buildinfo.Version())
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the kubeconfig (--kubeconfig, else in-cluster): %w", err)
	}
	restCfg.UserAgent = "keepalived-vip-agent/" + buildinfo.Version()
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	// SIGTERM stops keepalived gracefully: it sends priority-0 adverts and a peer takes
	// the VIPs over at once.
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return agent.New(cfg, client, agent.NewMetrics()).Run(ctx)
}
