package netns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Holders are the names of the nodes with vip on eth0.
func (tp *Topology) Holders(vip string) []string {
	var names []string
	for _, n := range tp.Nodes {
		out, _ := IP("-n", n.NS, "-o", "-4", "addr", "show", "dev", "eth0")
		if strings.Contains(out, " "+vip+"/32 ") {
			names = append(names, n.Name)
		}
	}
	return names
}

// Addrs are the /32 addresses on n's eth0 (one ip call).
func (tp *Topology) Addrs(n *Node) map[string]bool {
	out, _ := IP("-n", n.NS, "-o", "-4", "addr", "show", "dev", "eth0")
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

// ARPOwner is the MAC that answered an ARP request for vip from the client, or "".
func (tp *Topology) ARPOwner(vip string) string {
	out, err := Command(tp.ClientNS, "arping", "-r", "-C", "1", "-c", "1", "-w", "0.3", "-i", "eth0", vip).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Ping sends one ICMP echo from the client to vip.
func (tp *Topology) Ping(vip string) error {
	out, err := Command(tp.ClientNS, "ping", "-c", "1", "-W", "1", vip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from the client: %w\n%s", vip, err, out)
	}
	return nil
}

// WaitAnswer waits until the client's ARP request for vip is answered by the MAC of
// one of want and returns that node and how long it took from start.
func (tp *Topology) WaitAnswer(ctx context.Context, vip string, want []*Node, start time.Time) (*Node, time.Duration, error) {
	for {
		owner := tp.ARPOwner(vip)
		if i := slices.IndexFunc(want, func(n *Node) bool { return n.MAC == owner }); i >= 0 {
			return want[i], time.Since(start), nil
		}
		if ctx.Err() != nil {
			var names []string
			for _, n := range want {
				names = append(names, n.Name)
			}
			return nil, 0, fmt.Errorf("none of %v answered ARP for %s (last answer from %q, holders now %v): %w", names, vip, owner, tp.Holders(vip), ctx.Err())
		}
	}
}
