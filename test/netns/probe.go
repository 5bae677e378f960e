package netns

// The probes take a VIP of either family and look the way its family asks: the
// addresses of that family on eth0 (ip -o -4 or -6 addr), and who answers for it from
// the client: ARP for IPv4 (arping, a fresh request each time), the node's page for
// IPv6 (curl -6; iproute2 has no neighbour-discovery probe, and the client's neighbour
// cache after a ping only shows what it last learnt, while a page answers from the node
// that really holds the address now).

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// answerTimeout bounds one curl of Answerer: a node that has the address answers
// within milliseconds on the bridge.
const answerTimeout = 500 * time.Millisecond

// Holders are the names of the nodes with vip (IPv4 or IPv6) on eth0.
func (tp *Topology) Holders(vip string) []string {
	a, err := netip.ParseAddr(vip)
	if err != nil {
		return nil
	}
	var names []string
	for _, n := range tp.Nodes {
		if hostAddrs(n, familyFlag(a))[a.String()] {
			names = append(names, n.Name)
		}
	}
	return names
}

// Addrs are the host addresses (IPv4 /32, IPv6 /128) on n's eth0 (one ip call).
func (tp *Topology) Addrs(n *Node) map[string]bool {
	return hostAddrs(n)
}

// hostAddrs are the host addresses (/32, /128) on n's eth0, in canonical text, of the
// family of ip's flag ("-4" or "-6"; none: both).
func hostAddrs(n *Node, family ...string) map[string]bool {
	args := append(append([]string{"-n", n.NS, "-o"}, family...), "addr", "show", "dev", "eth0")
	out, _ := IP(args...)
	set := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		// "2: eth0    inet 10.99.0.100/32 scope global eth0 ..." or inet6
		f := strings.Fields(line)
		i := slices.IndexFunc(f, func(s string) bool { return s == "inet" || s == "inet6" })
		if i < 0 || i+1 >= len(f) {
			continue
		}
		if p, err := netip.ParsePrefix(f[i+1]); err == nil && p.Bits() == p.Addr().BitLen() {
			set[p.Addr().String()] = true
		}
	}
	return set
}

// familyFlag is the flag of ip, ping and curl for a's family.
func familyFlag(a netip.Addr) string {
	if a.Is4() {
		return "-4"
	}
	return "-6"
}

// ARPOwner is the MAC that answered an ARP request for vip from the client, or "".
func (tp *Topology) ARPOwner(vip string) string {
	out, err := Command(tp.ClientNS, "arping", "-r", "-C", "1", "-c", "1", "-w", "0.3", "-i", "eth0", vip).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Answerer is the node that answers for vip from the client, or nil, and what the
// client saw: for IPv4 the MAC that answered ARP, for IPv6 what curl -6 of the page
// on port 80 (ServePage) returned, or its error.
func (tp *Topology) Answerer(vip string) (*Node, string) {
	a, err := netip.ParseAddr(vip)
	if err != nil {
		return nil, err.Error()
	}
	if a.Is4() {
		mac := tp.ARPOwner(vip)
		return tp.NodeByMAC(mac), mac
	}
	name, err := tp.Curl(vip, answerTimeout)
	if err != nil {
		return nil, fmt.Sprintf("curl: %v", err)
	}
	return tp.Node(name), name
}

// Ping sends one ICMP echo from the client to vip (ping -4 or -6 by its family).
func (tp *Topology) Ping(vip string) error {
	a, err := netip.ParseAddr(vip)
	if err != nil {
		return err
	}
	out, err := Command(tp.ClientNS, "ping", familyFlag(a), "-c", "1", "-W", "1", vip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from the client: %w\n%s", vip, err, out)
	}
	return nil
}

// WaitAnswer waits until one of want answers for vip from the client (Answerer: ARP
// for IPv4, the page for IPv6) and returns that node and how long it took from start.
func (tp *Topology) WaitAnswer(ctx context.Context, vip string, want []*Node, start time.Time) (*Node, time.Duration, error) {
	for {
		owner, seen := tp.Answerer(vip)
		if owner != nil && slices.Contains(want, owner) {
			return owner, time.Since(start), nil
		}
		if ctx.Err() != nil {
			var names []string
			for _, n := range want {
				names = append(names, n.Name)
			}
			return nil, 0, fmt.Errorf("none of %v answered %s for %s (last answer %q, holders now %v): %w", names, probeName(vip), vip, seen, tp.Holders(vip), ctx.Err())
		}
	}
}

// probeName says how Answerer asks for vip.
func probeName(vip string) string {
	if a, err := netip.ParseAddr(vip); err == nil && a.Is6() {
		return "curl -6"
	}
	return "ARP"
}
