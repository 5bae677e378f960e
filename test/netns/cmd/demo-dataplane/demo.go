package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

const (
	// peerLabel marks the Nodes whose agents are each other's VRRP peers.
	peerLabel = "keepalived-demo/vip-agent"
	// agentPort serves the agents' /healthz and /metrics on 127.0.0.1 inside each node.
	agentPort = 9742
	// stopGrace is how long an agent has after SIGTERM before it is killed.
	stopGrace = 10 * time.Second
)

// demo is everything the data-plane demo starts; cleanup undoes it, whatever was
// reached.
type demo struct {
	opts        options
	bold, plain string

	topo       *netns.Topology
	admin      *rest.Config
	client     kubernetes.Interface
	forwarders []*netns.Forwarder
	pages      []*http.Server
	agents     map[string]*agent // by node name
	vip        string
}

func newDemo(o options) *demo {
	d := &demo{opts: o, agents: map[string]*agent{}}
	if _, err := unix.IoctlGetTermios(int(os.Stdout.Fd()), unix.TCGETS); err == nil {
		d.bold, d.plain = "\033[1m", "\033[0m"
	}
	return d
}

// step prints a heading the way hack/demo.sh does.
func (d *demo) step(format string, args ...any) {
	fmt.Printf("\n%s==> %s%s\n", d.bold, fmt.Sprintf(format, args...), d.plain)
}

func (d *demo) readyPath() string { return filepath.Join(d.opts.dir, "ready") }

func (d *demo) kubeconfigPath() string { return filepath.Join(d.opts.dir, "agent.kubeconfig") }

// setUp builds the namespaces, registers the nodes and starts a page and an agent on
// each.
func (d *demo) setUp(ctx context.Context) error {
	if err := d.prepareDir(); err != nil {
		return err
	}
	if err := removeLeftovers(); err != nil {
		return err
	}
	d.step("Data plane: nodes node1 and node2 and a client as network namespaces on a bridge (%s)", d.opts.subnet)
	var err error
	if d.topo, err = netns.New(prefix, d.opts.subnet, "node1", "node2"); err != nil {
		return err
	}
	for _, n := range d.topo.Nodes {
		fmt.Printf("%s: namespace %s, eth0 %s (%s)\n", n.Name, n.NS, n.Addr, n.MAC)
	}
	fmt.Printf("client: namespace %s, eth0 %s\n", d.topo.ClientNS, d.topo.ClientAddr)
	if err := d.register(ctx); err != nil {
		return err
	}
	return d.startNodes()
}

// prepareDir empties -dir of an earlier run's state (logs are replaced).
func (d *demo) prepareDir() error {
	if err := os.RemoveAll(d.opts.dir); err != nil {
		return err
	}
	return os.MkdirAll(d.opts.dir, 0o755)
}

// register applies manifests/agent and creates the Nodes and the agents' kubeconfig.
func (d *demo) register(ctx context.Context) error {
	d.step("kubectl apply -k manifests/agent (the agent's ServiceAccount and RBAC); Nodes node1 and node2 with their InternalIPs")
	cmd := exec.CommandContext(ctx, d.opts.kubectl, "--kubeconfig", d.opts.kubeconfig, "apply", "-k", d.opts.manifests)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply -k %s: %w", d.opts.manifests, err)
	}
	var err error
	if d.admin, err = clientcmd.BuildConfigFromFlags("", d.opts.kubeconfig); err != nil {
		return err
	}
	if d.client, err = kubernetes.NewForConfig(d.admin); err != nil {
		return err
	}
	for _, n := range d.topo.Nodes {
		if err := n.Register(ctx, d.client, map[string]string{peerLabel: "true"}); err != nil {
			return err
		}
		fmt.Printf("node/%s created, InternalIP %s, label %s=true\n", n.Name, n.Addr, peerLabel)
	}
	return netns.WriteAgentKubeconfig(ctx, d.client, d.admin, d.kubeconfigPath())
}

// startNodes gives each node a forwarder to the API server, its page and its agent.
func (d *demo) startNodes() error {
	d.step("Starting keepalived-vip-agent in each node's namespace (host network, as the DaemonSet runs it) and a page on port 80 that answers with the node's name")
	port, err := netns.APIServerPort(d.admin.Host)
	if err != nil {
		return err
	}
	for _, n := range d.topo.Nodes {
		f, err := netns.Forward(n.NS, port)
		if err != nil {
			return err
		}
		d.forwarders = append(d.forwarders, f)
		page, err := netns.ServePage(n)
		if err != nil {
			return err
		}
		d.pages = append(d.pages, page)
		a, err := d.startAgent(n)
		if err != nil {
			return err
		}
		d.agents[n.Name] = a
		fmt.Printf("%s: agent pid %d (log %s), page on %s:80\n", n.Name, a.pid(), a.logPath, n.Addr)
	}
	return nil
}

func (d *demo) startAgent(n *netns.Node) (*agent, error) {
	configDir := filepath.Join(d.opts.dir, n.Name)
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return nil, err
	}
	args := append(netns.AgentArgs(n, d.kubeconfigPath(), configDir, peerLabel+"=true", agentPort),
		// No kube-proxy here, so no service proxy health check to follow.
		"--health-check-url=", "--v=2")
	return startAgent(n, d.opts.agent, args, filepath.Join(d.opts.dir, n.Name+".log"))
}

// cleanup stops the agents (SIGTERM, then SIGKILL), the pages and forwarders, deletes
// the namespaces with whatever still runs inside, and removes the state.
func (d *demo) cleanup() {
	var errs []error
	for _, a := range d.agents {
		errs = append(errs, a.stop(stopGrace))
	}
	for _, p := range d.pages {
		errs = append(errs, p.Close())
	}
	for _, f := range d.forwarders {
		f.Close()
	}
	if d.topo != nil {
		d.topo.Remove()
		fmt.Printf("demo-dataplane: removed namespaces %s\n", strings.Join(d.topo.Namespaces(), " "))
	}
	errs = append(errs, os.RemoveAll(d.readyPath()), os.RemoveAll(d.kubeconfigPath()))
	for _, n := range []string{"node1", "node2"} {
		errs = append(errs, os.RemoveAll(filepath.Join(d.opts.dir, n)))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "demo-dataplane: cleaning up:", err)
	}
}

// inSubnet reports whether vip is inside the demo's bridge subnet: the only addresses
// the demo may contact.
func (d *demo) inSubnet(vip string) bool {
	a, err := netip.ParseAddr(vip)
	return err == nil && d.opts.subnet.Contains(a)
}
