// Command demo-dataplane runs the data-plane half of hack/demo.sh, once the provider has
// given the demo's Services their addresses: two nodes and a client as network
// namespaces on a bridge (test/netns), one keepalived-vip-agent per node inside its
// namespace as the DaemonSet runs it (host network, unicast VRRP), and a tiny HTTP page
// on port 80 of each node that answers with the node's name. It shows curl from the
// client to a Service's EXTERNAL-IP, stops the agent of the node that answered
// (SIGTERM) and shows the same curl answered by the other node, with the time it took.
//
// It lives beside test/netns, the package it drives and shares with the data-plane test
// (test/dataplane), as demo-controlplane lives beside test/controlplane.
//
// It writes into -dir: a log per agent (<node>.log), agent.kubeconfig, each agent's
// state directory (<node>/), and ready once it has shown the failover. Then it exits
// (-no-wait) or waits for SIGINT or SIGTERM (further signals are ignored while it
// stops). However it ends, it removes what it made: it stops the agents it started (by
// PID), deletes the namespaces with anything still inside them (keepalived), and
// removes the kubeconfig, the state directories and ready. The Nodes it registers go
// with the throwaway control plane. -remove-leftovers only removes the namespaces of a
// demo-dataplane that was killed outright.
//
// It needs root, iproute2, keepalived and curl. Besides the API server on 127.0.0.1 it
// contacts only addresses inside the namespaces it makes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// prefix names the demo's namespaces: kcpdemo-br, kcpdemo-client, kcpdemo-n1, kcpdemo-n2.
const prefix = "kcpdemo"

// errInterrupted ends a run that a signal stopped before it had shown everything.
var errInterrupted = errors.New("interrupted")

type options struct {
	kubeconfig, agent, dir, kubectl, manifests string
	subnet                                     netip.Prefix
	service                                    string // namespace/name
	noWait                                     bool
}

func main() {
	err := run()
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Println("demo-dataplane: interrupted; removed what it made")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo-dataplane:", err)
		os.Exit(1)
	}
}

func run() error {
	o, leftovers, err := parseFlags()
	if err != nil {
		return err
	}
	if leftovers {
		return removeLeftovers()
	}
	// Stop on a signal from here on, also while setting up; stop() only after cleanup.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d := newDemo(o)
	defer d.cleanup()
	if err := d.setUp(ctx); err != nil {
		return orInterrupted(ctx, err)
	}
	if err := d.show(ctx); err != nil {
		return orInterrupted(ctx, err)
	}
	if err := os.WriteFile(d.readyPath(), []byte(d.vip+"\n"), 0o644); err != nil {
		return err
	}
	if !o.noWait {
		<-ctx.Done()
	}
	return nil
}

func parseFlags() (o options, leftovers bool, err error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return o, false, err
	}
	// A flag set of its own: packages linked in (controller-runtime) register -kubeconfig
	// on the global one.
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	subnet := fs.String("subnet", "10.210.38.0/24", "the bridge's IPv4 /24 (client .2, nodes .11 and .12); the Service's address must be inside it")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "admin kubeconfig of the running control plane (required)")
	fs.StringVar(&o.agent, "agent", filepath.Join(root, "bin", "keepalived-vip-agent"), "the keepalived-vip-agent binary")
	fs.StringVar(&o.dir, "dir", filepath.Join(root, "_output", "demo", "dataplane"), "where to write logs, the agents' kubeconfig and state")
	fs.StringVar(&o.kubectl, "kubectl", filepath.Join(controlplane.AssetsDir(root), "kubectl"), "kubectl, for kubectl apply -k")
	fs.StringVar(&o.service, "service", "demo/web", "namespace/name of the LoadBalancer Service to curl (port 80)")
	fs.BoolVar(&o.noWait, "no-wait", false, "remove everything and exit once the failover is shown")
	fs.BoolVar(&leftovers, "remove-leftovers", false, "only remove the namespaces "+prefix+"-* (and what runs in them) of a run that was killed outright")
	_ = fs.Parse(os.Args[1:]) // ExitOnError
	o.manifests = filepath.Join(root, "manifests", "agent")
	if leftovers {
		return o, true, nil
	}
	var errs []error
	if o.kubeconfig == "" {
		errs = append(errs, errors.New("-kubeconfig is required"))
	}
	if o.subnet, err = netip.ParsePrefix(*subnet); err != nil {
		errs = append(errs, fmt.Errorf("-subnet %q: %w", *subnet, err))
	}
	if ns, name, ok := strings.Cut(o.service, "/"); !ok || ns == "" || name == "" {
		errs = append(errs, fmt.Errorf("-service %q: want namespace/name", o.service))
	}
	if o.dir, err = filepath.Abs(o.dir); err != nil {
		errs = append(errs, fmt.Errorf("-dir: %w", err))
	}
	return o, false, errors.Join(errs...)
}

// removeLeftovers deletes the demo's namespaces, killing what still runs inside them:
// only a demo-dataplane that was killed outright leaves any.
func removeLeftovers() error {
	names, err := netns.Existing(prefix)
	if err != nil || len(names) == 0 {
		return err
	}
	fmt.Printf("demo-dataplane: removing namespaces left by a run that was killed outright: %s\n", strings.Join(names, " "))
	netns.Delete(names...)
	return nil
}

func orInterrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return err
}
