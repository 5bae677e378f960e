package dataplane

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

const (
	ipvsMetric = "keepalived_vip_agent_ipvs_without_strict_arp"
	// ipvsLimit covers the agent's 10 s check interval.
	ipvsLimit = 15 * time.Second
)

// testIPVSStrictARP gives node2 the interface kube-proxy makes in IPVS mode,
// kube-ipvs0, without strictARP's sysctls: node2's agent must say so (metric 1), the
// others not; with arp_ignore=1 and arp_announce=2 (what strictARP sets) it is 0 again.
func (cl *cluster) testIPVSStrictARP(ctx context.Context, t *testing.T) {
	n := cl.topo.Node("node2")
	// kube-proxy makes a dummy; this kernel may have no dummy driver, and the agent
	// only looks for the name.
	kind := "dummy"
	if _, err := netns.IP("-n", n.NS, "link", "add", "kube-ipvs0", "type", "dummy"); err != nil {
		kind = "bridge"
		mustIP(t, "-n", n.NS, "link", "add", "kube-ipvs0", "type", "bridge")
	}
	t.Cleanup(func() { _, _ = netns.IP("-n", n.NS, "link", "del", "kube-ipvs0") })
	const ignore, announce = "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce"
	oldIgnore, oldAnnounce := sysctl(t, n.NS, ignore, ""), sysctl(t, n.NS, announce, "")
	t.Cleanup(func() { sysctl(t, n.NS, ignore, oldIgnore); sysctl(t, n.NS, announce, oldAnnounce) })

	start := time.Now()
	cl.waitIPVSMetric(ctx, t, n.Name, fmt.Sprintf("kube-ipvs0 (%s) on node2 with %s=%s, %s=%s", kind, ignore, oldIgnore, announce, oldAnnounce))
	report(t, "kube-ipvs0 on node2 without strictARP: ipvs_without_strict_arp 1 there (0 elsewhere) after %s", time.Since(start).Round(time.Millisecond))
	if lines := cl.agents[n.Name].logLines("strictARP"); len(lines) == 0 {
		t.Logf("node2's agent logged no line mentioning strictARP")
	} else {
		t.Logf("node2's agent: %s", lines[0])
	}

	start = time.Now()
	sysctl(t, n.NS, ignore, "1")
	sysctl(t, n.NS, announce, "2")
	cl.waitIPVSMetric(ctx, t, "", "arp_ignore=1, arp_announce=2 on node2")
	report(t, "strictARP's sysctls set on node2: ipvs_without_strict_arp 0 again after %s", time.Since(start).Round(time.Millisecond))
}

// waitIPVSMetric waits until ipvs_without_strict_arp is 1 on node and 0 on every
// other agent (node "": 0 everywhere).
func (cl *cluster) waitIPVSMetric(ctx context.Context, t *testing.T, node, why string) {
	t.Helper()
	err := poll(ctx, ipvsLimit, fmt.Sprintf("%s 1 on %q only (%s)", ipvsMetric, node, why), func() (bool, string) {
		ok := true
		var seen []string
		for _, n := range cl.topo.Nodes {
			v, err := cl.agents[n.Name].metric(ipvsMetric)
			want := 0.0
			if n.Name == node {
				want = 1
			}
			ok = ok && err == nil && v == want
			seen = append(seen, fmt.Sprintf("%s: %v (%v)", n.Name, v, err))
		}
		return ok, strings.Join(seen, ", ")
	})
	if err != nil {
		t.Error(err)
	}
}

// sysctl sets key to value inside ns (value "": only reads it) and returns the value
// it had.
func sysctl(t *testing.T, ns, key, value string) string {
	t.Helper()
	out, err := netns.Command(ns, "sysctl", "-n", key).CombinedOutput()
	if err != nil {
		t.Errorf("sysctl %s in %s: %v: %s", key, ns, err, out)
	}
	old := strings.TrimSpace(string(out))
	if value != "" {
		if out, err := netns.Command(ns, "sysctl", "-w", key+"="+value).CombinedOutput(); err != nil {
			t.Errorf("sysctl -w %s=%s in %s: %v: %s", key, value, ns, err, out)
		}
	}
	return old
}
