package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Node is a network namespace standing for a cluster node, with eth0 on the bridge.
type Node struct {
	Name string // the Kubernetes Node name
	NS   string
	Addr netip.Addr
	// Addr6 is its IPv6 address on eth0 when the topology has IPv6 (NewDualStack);
	// not valid otherwise.
	Addr6 netip.Addr
	MAC   string
	// Port is its veth end on the bridge: set it down to cut the node's link.
	Port string
}

// Topology is a bridge in its own namespace, nodes and a client, all in one IPv4 /24
// (and, made by NewDualStack, in one IPv6 prefix too).
type Topology struct {
	BridgeNS, ClientNS string
	ClientAddr         netip.Addr
	ClientAddr6        netip.Addr // valid only with IPv6 (NewDualStack)
	Nodes              []*Node
	// others are namespaces added later (a foreign VRRP router).
	others []string
}

// New builds namespaces <prefix>-br (the bridge br0), <prefix>-client (subnet's .2)
// and <prefix>-n1… (the nodes named nodeNames: .11, .12, …), each with eth0 on the
// bridge. On error it removes what it made.
func New(prefix string, subnet netip.Prefix, nodeNames ...string) (*Topology, error) {
	return build(prefix, subnet, netip.Prefix{}, nodeNames)
}

// NewDualStack is New with IPv6 on the bridge too: the client and the nodes also get
// host 2, 11, 12, … of subnet6 (an IPv6 prefix of /64 to /120) on eth0, usable at once
// (nodad). Namespaces added later (AddOther) stay IPv4 only.
func NewDualStack(prefix string, subnet, subnet6 netip.Prefix, nodeNames ...string) (*Topology, error) {
	if !subnet6.Addr().Is6() || subnet6.Addr().Is4In6() || subnet6.Bits() < 64 || subnet6.Bits() > 120 {
		return nil, fmt.Errorf("subnet %s: want an IPv6 prefix of /64 to /120", subnet6)
	}
	return build(prefix, subnet, subnet6, nodeNames)
}

// build is New, with IPv6 when subnet6 is valid.
func build(prefix string, subnet, subnet6 netip.Prefix, nodeNames []string) (tp *Topology, err error) {
	if !subnet.Addr().Is4() || subnet.Bits() != 24 {
		return nil, fmt.Errorf("subnet %s: want an IPv4 /24", subnet)
	}
	tp = &Topology{BridgeNS: prefix + "-br", ClientNS: prefix + "-client", ClientAddr: hostAddr(subnet, 2)}
	if subnet6.IsValid() {
		tp.ClientAddr6 = hostAddr6(subnet6, 2)
	}
	for i, name := range nodeNames {
		n := &Node{Name: name, NS: fmt.Sprintf("%s-n%d", prefix, i+1), Addr: hostAddr(subnet, 11+i), Port: fmt.Sprintf("vn%d", i+1)}
		if subnet6.IsValid() {
			n.Addr6 = hostAddr6(subnet6, 11+i)
		}
		tp.Nodes = append(tp.Nodes, n)
	}
	defer func() {
		if err != nil {
			tp.Remove()
		}
	}()
	for _, args := range [][]string{
		{"netns", "add", tp.BridgeNS},
		{"-n", tp.BridgeNS, "link", "add", "br0", "type", "bridge"},
		{"-n", tp.BridgeNS, "link", "set", "br0", "up"},
	} {
		if _, err := IP(args...); err != nil {
			return nil, err
		}
	}
	if err := tp.attach(tp.ClientNS, "vc", tp.ClientAddr, tp.ClientAddr6, subnet6.Bits()); err != nil {
		return nil, err
	}
	for _, n := range tp.Nodes {
		if err := tp.attach(n.NS, n.Port, n.Addr, n.Addr6, subnet6.Bits()); err != nil {
			return nil, err
		}
		if n.MAC, err = mac(n.NS); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

// hostAddr is address number i of the /24 subnet.
func hostAddr(subnet netip.Prefix, i int) netip.Addr {
	a := subnet.Masked().Addr().As4()
	a[3] = byte(i)
	return netip.AddrFrom4(a)
}

// hostAddr6 is address number i of the IPv6 subnet (its last byte).
func hostAddr6(subnet netip.Prefix, i int) netip.Addr {
	a := subnet.Masked().Addr().As16()
	a[15] = byte(i)
	return netip.AddrFrom16(a)
}

// attach makes namespace ns with eth0 (addr/24, and addr6/bits6 when addr6 is valid)
// linked to the bridge through port.
func (tp *Topology) attach(ns, port string, addr, addr6 netip.Addr, bits6 int) error {
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", tp.BridgeNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", tp.BridgeNS, "link", "set", port, "master", "br0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", addr.String() + "/24", "dev", "eth0"},
	}
	if addr6.IsValid() {
		// nodad: usable at once, not after a second of duplicate address detection.
		steps = append(steps, []string{"-n", ns, "addr", "add", fmt.Sprintf("%s/%d", addr6, bits6), "dev", "eth0", "nodad"})
	}
	for _, args := range append(steps, []string{"-n", ns, "link", "set", "eth0", "up"}) {
		if _, err := IP(args...); err != nil {
			return err
		}
	}
	return nil
}

// AddOther attaches one more namespace (name ns, bridge port port) that is not a node;
// Remove deletes it with the rest.
func (tp *Topology) AddOther(ns, port string, addr netip.Addr) error {
	tp.others = append(tp.others, ns)
	return tp.attach(ns, port, addr, netip.Addr{}, 0)
}

// Namespaces are the names of every namespace of tp.
func (tp *Topology) Namespaces() []string {
	names := append([]string{tp.ClientNS, tp.BridgeNS}, tp.others...)
	for _, n := range tp.Nodes {
		names = append(names, n.NS)
	}
	return names
}

// Remove kills what still runs in tp's namespaces (only what their owner started can
// be there: agents, keepalived) and deletes them.
func (tp *Topology) Remove() { Delete(tp.Namespaces()...) }

// Delete kills, by PID, every process inside each of the named namespaces and deletes
// them; names that do not exist are passed over.
func Delete(names ...string) {
	for _, ns := range names {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// Existing are the namespaces named <prefix>-…: what a Topology of prefix leaves
// behind when its owner was killed outright.
func Existing(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Node is the node named name, or nil.
func (tp *Topology) Node(name string) *Node {
	i := slices.IndexFunc(tp.Nodes, func(n *Node) bool { return n.Name == name })
	if i < 0 {
		return nil
	}
	return tp.Nodes[i]
}

// NodeByMAC is the node with mac, or nil.
func (tp *Topology) NodeByMAC(mac string) *Node {
	i := slices.IndexFunc(tp.Nodes, func(n *Node) bool { return n.MAC == mac })
	if i < 0 {
		return nil
	}
	return tp.Nodes[i]
}

func mac(ns string) (string, error) {
	out, err := IP("-n", ns, "-o", "link", "show", "dev", "eth0")
	if err != nil {
		return "", err
	}
	fields := strings.Fields(out)
	i := slices.Index(fields, "link/ether")
	if i < 0 || i+1 >= len(fields) {
		return "", fmt.Errorf("no MAC in %q", out)
	}
	return fields[i+1], nil
}

// IP runs ip with args; the error includes its output.
func IP(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Command is argv run inside namespace ns (ip netns exec, which execs argv, so the
// process is argv's own). Should this process die outright, it gets SIGKILL
// (Pdeathsig; setns.go says why the threads of this process matter for that).
func Command(ns string, argv ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// netnsDir holds the namespaces that ip netns add makes, one file each.
const netnsDir = "/var/run/netns"
