package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// node is a network namespace standing for a cluster node, with eth0 on the bridge.
type node struct {
	Name string // the Kubernetes Node name
	NS   string
	Addr netip.Addr
	MAC  string
	// Port is its veth end on the bridge: set it down to cut the node's link.
	Port string
}

// topology is a bridge in its own namespace, nodes, and a client, all in 10.99.0.0/24.
type topology struct {
	bridgeNS, clientNS string
	nodes              []*node
	// others are namespaces added later (a foreign VRRP router).
	others []string
}

const subnet = "10.99.0"

// newTopology builds the namespaces and links; t.Cleanup removes them with any process
// still inside (keepalived started by our agents).
func newTopology(t *testing.T, nodeNames ...string) *topology {
	t.Helper()
	prefix := fmt.Sprintf("kcp%d", os.Getpid()%100000)
	tp := &topology{bridgeNS: prefix + "-br", clientNS: prefix + "-client"}
	for i, name := range nodeNames {
		tp.nodes = append(tp.nodes, &node{Name: name, NS: fmt.Sprintf("%s-n%d", prefix, i+1),
			Addr: netip.MustParseAddr(fmt.Sprintf("%s.%d", subnet, 11+i))})
	}
	t.Cleanup(tp.remove)
	mustIP(t, "netns", "add", tp.bridgeNS)
	mustIP(t, "-n", tp.bridgeNS, "link", "add", "br0", "type", "bridge")
	mustIP(t, "-n", tp.bridgeNS, "link", "set", "br0", "up")
	tp.attach(t, tp.clientNS, "vc", netip.MustParseAddr(subnet+".2"))
	for i, n := range tp.nodes {
		n.Port = fmt.Sprintf("vn%d", i+1)
		tp.attach(t, n.NS, n.Port, n.Addr)
		n.MAC = mac(t, n.NS)
	}
	return tp
}

// attach makes namespace ns with eth0 (addr/24) linked to the bridge through port.
func (tp *topology) attach(t *testing.T, ns, port string, addr netip.Addr) {
	t.Helper()
	mustIP(t, "netns", "add", ns)
	mustIP(t, "-n", tp.bridgeNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	mustIP(t, "-n", tp.bridgeNS, "link", "set", port, "master", "br0", "up")
	mustIP(t, "-n", ns, "link", "set", "lo", "up")
	mustIP(t, "-n", ns, "addr", "add", addr.String()+"/24", "dev", "eth0")
	mustIP(t, "-n", ns, "link", "set", "eth0", "up")
}

func (tp *topology) namespaces() []string {
	names := append([]string{tp.clientNS, tp.bridgeNS}, tp.others...)
	for _, n := range tp.nodes {
		names = append(names, n.NS)
	}
	return names
}

// addOther attaches one more namespace (name ns, bridge port port) that is not a node;
// remove deletes it with the rest.
func (tp *topology) addOther(t *testing.T, ns, port string, addr netip.Addr) {
	t.Helper()
	tp.others = append(tp.others, ns)
	tp.attach(t, ns, port, addr)
}

// remove kills what still runs in the namespaces (only the agents, keepalived and the
// foreign router this test started can be there) and deletes them.
func (tp *topology) remove() {
	for _, ns := range tp.namespaces() {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// holders are the nodes with vip on eth0.
func (tp *topology) holders(vip string) []string {
	var names []string
	for _, n := range tp.nodes {
		out, _ := ip("-n", n.NS, "-o", "-4", "addr", "show", "dev", "eth0")
		if strings.Contains(out, " "+vip+"/32 ") {
			names = append(names, n.Name)
		}
	}
	return names
}

// addrs are the /32 addresses on n's eth0 (one ip call).
func (tp *topology) addrs(n *node) map[string]bool {
	out, _ := ip("-n", n.NS, "-o", "-4", "addr", "show", "dev", "eth0")
	set := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if i := slices.Index(f, "inet"); i >= 0 && i+1 < len(f) {
			if a, ok := strings.CutSuffix(f[i+1], "/32"); ok {
				set[a] = true
			}
		}
	}
	return set
}

// arpOwner is the MAC that answered an ARP request for vip from the client, or "".
func (tp *topology) arpOwner(vip string) string {
	out, err := exec.Command("ip", "netns", "exec", tp.clientNS, "arping", "-r", "-C", "1", "-c", "1", "-w", "0.3", "-i", "eth0", vip).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ping sends one ICMP echo from the client to vip.
func (tp *topology) ping(vip string) error {
	out, err := exec.Command("ip", "netns", "exec", tp.clientNS, "ping", "-c", "1", "-W", "1", vip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from the client: %w\n%s", vip, err, out)
	}
	return nil
}

func (tp *topology) node(name string) *node {
	i := slices.IndexFunc(tp.nodes, func(n *node) bool { return n.Name == name })
	return tp.nodes[i]
}

// waitAnswer waits until the client's ARP request for vip is answered by the MAC of
// one of want and returns that node and how long it took from start.
func (tp *topology) waitAnswer(ctx context.Context, vip string, want []*node, start time.Time) (*node, time.Duration, error) {
	for {
		owner := tp.arpOwner(vip)
		if i := slices.IndexFunc(want, func(n *node) bool { return n.MAC == owner }); i >= 0 {
			return want[i], time.Since(start), nil
		}
		if ctx.Err() != nil {
			var names []string
			for _, n := range want {
				names = append(names, n.Name)
			}
			return nil, 0, fmt.Errorf("none of %v answered ARP for %s (last answer from %q, holders now %v): %w", names, vip, owner, tp.holders(vip), ctx.Err())
		}
	}
}

// nodeByMAC is the node with mac, or nil.
func (tp *topology) nodeByMAC(mac string) *node {
	i := slices.IndexFunc(tp.nodes, func(n *node) bool { return n.MAC == mac })
	if i < 0 {
		return nil
	}
	return tp.nodes[i]
}

func mac(t *testing.T, ns string) string {
	t.Helper()
	out, err := ip("-n", ns, "-o", "link", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	i := slices.Index(fields, "link/ether")
	if i < 0 || i+1 >= len(fields) {
		t.Fatalf("no MAC in %q", out)
	}
	return fields[i+1]
}

func ip(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if _, err := ip(args...); err != nil {
		t.Fatal(err)
	}
}
