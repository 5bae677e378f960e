package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

const (
	manyVIPs = 5000
	// manyVIPsFrom starts the range of the many announce-only entries: outside the
	// bridge's subnet (only written into keepalived.conf and onto the nodes' eth0,
	// never contacted).
	manyVIPsFrom = "10.98.0.1"
	manyLimit    = 2 * time.Minute
	// exceedsMaximum is keepalived's warning for more VIPs than an advert holds.
	exceedsMaximum = "exceeds maximum"
)

// testManyVIPs adds 5,000 announce-only entries in one ConfigMap update and measures
// until each is on exactly one node, with keepalived's and the agents' memory; then
// removes them in one update.
func (cl *cluster) testManyVIPs(ctx context.Context, t *testing.T) {
	vips := manyAddresses(manyVIPs)
	removed := false
	remove := func() {
		if !removed {
			removed = true
			cl.editConfigMap(ctx, t, func(data map[string]string) {
				for _, v := range vips {
					delete(data, v)
				}
			})
		}
	}
	t.Cleanup(remove)
	start := time.Now()
	cl.editConfigMap(ctx, t, func(data map[string]string) {
		for _, v := range vips {
			data[v] = ""
		}
	})
	var perNode map[string]int
	err := poll(ctx, manyLimit, fmt.Sprintf("%d VIPs each on exactly one node", manyVIPs), func() (bool, string) {
		time.Sleep(200 * time.Millisecond) // 3 ip calls of ~5,000 lines each per look
		var missing, doubled int
		missing, doubled, perNode = cl.placement(vips)
		return missing == 0 && doubled == 0, fmt.Sprintf("%d on no node, %d on more than one, per node %v", missing, doubled, perNode)
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "%d VIPs: all on exactly one node after %s (per node %v)", manyVIPs, time.Since(start).Round(time.Millisecond), perNode)
	for _, n := range cl.topo.Nodes {
		a := cl.agents[n.Name]
		agent, _ := procUsage(a.pid)
		parent, child, err := a.keepalivedPIDs()
		if err != nil {
			t.Errorf("%s's keepalived: %v", n.Name, err)
			continue
		}
		p, _ := procUsage(parent)
		c, _ := procUsage(child)
		report(t, "%d VIPs: keepalived on %s RSS %.1f MiB (parent %.1f + VRRP child %.1f), agent RSS %.1f MiB",
			manyVIPs, n.Name, float64(p.rss+c.rss)/(1<<20), float64(p.rss)/(1<<20), float64(c.rss)/(1<<20), float64(agent.rss)/(1<<20))
	}
	for _, n := range cl.topo.Nodes {
		if lines := cl.agents[n.Name].logLines(exceedsMaximum); len(lines) > 0 {
			t.Errorf("%s's keepalived logged %q %d times, e.g. %s", n.Name, exceedsMaximum, len(lines), lines[0])
		}
	}

	start = time.Now()
	remove()
	err = poll(ctx, manyLimit, fmt.Sprintf("%d VIPs gone from every node", manyVIPs), func() (bool, string) {
		time.Sleep(200 * time.Millisecond)
		left := 0
		for _, n := range cl.topo.Nodes {
			addrs := cl.topo.Addrs(n)
			for _, v := range vips {
				if addrs[v] {
					left++
				}
			}
		}
		return left == 0, fmt.Sprintf("%d left", left)
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "%d VIPs removed in one update: gone from every node after %s", manyVIPs, time.Since(start).Round(time.Millisecond))
}

// placement counts the vips on no node and on more than one, and how many each node
// holds: one ip call per node.
func (cl *cluster) placement(vips []string) (missing, doubled int, perNode map[string]int) {
	perNode = map[string]int{}
	sets := map[string]map[string]bool{}
	for _, n := range cl.topo.Nodes {
		sets[n.Name] = cl.topo.Addrs(n)
	}
	for _, v := range vips {
		on := 0
		for name, set := range sets {
			if set[v] {
				on++
				perNode[name]++
			}
		}
		switch {
		case on == 0:
			missing++
		case on > 1:
			doubled++
		}
	}
	return missing, doubled, perNode
}

// manyAddresses are n addresses from manyVIPsFrom upward, skipping .0 and .255.
func manyAddresses(n int) []string {
	out := make([]string, 0, n)
	for a := netip.MustParseAddr(manyVIPsFrom); len(out) < n; a = a.Next() {
		if last := a.As4()[3]; last == 0 || last == 255 {
			continue
		}
		out = append(out, a.String())
	}
	return out
}
