package e2e

import (
	"testing"
	"time"
)

// TestPoolsReserved: reserved addresses (single, a range, inside a pool or outside every
// pool) are never handed out, even when that leaves a Service waiting; a request for one
// is refused with "is reserved". A pool with avoidBuggyIPs skips addresses ending in .255
// and .0. Pool sizes count neither.
func TestPoolsReserved(t *testing.T) {
	e := newPoolsEnv(t, `
pools:
  - name: tiny
    addresses: [10.210.204.8/29]
  - name: edge
    addresses: [10.210.214.254-10.210.215.1]
    avoidBuggyIPs: true
reserved:
  - 10.210.204.9
  - 10.210.204.11-10.210.204.13
  - 10.210.204.200
`).env
	m := e.newMetricsReader()

	// tiny is .9-.14 without its network and broadcast addresses; of those only .10 and
	// .14 are not reserved. edge without .255 and .0 is .254 and .1.
	for _, s := range []struct{ name, want string }{
		{"s1", "10.210.204.10"}, {"s2", "10.210.204.14"},
		{"s3", "10.210.214.254"}, {"s4", "10.210.215.1"},
	} {
		e.createService(s.name)
		e.waitAssigned(s.name, s.want)
	}
	e.createService("s5")
	e.waitEvent("s5", "SyncLoadBalancerFailed", `pool "tiny": no free address`, "(2 of 2 in use)", `pool "edge": no free address`)
	e.waitUsage("tiny: 2 of 2 in use; edge: 2 of 2 in use")
	ms := m.scrape()
	for _, pool := range []string{"tiny", "edge"} {
		m.expectMetric(ms, 2, "keepalived_pool_addresses", "pool", pool)
		m.expectMetric(ms, 2, "keepalived_pool_addresses_in_use", "pool", pool)
	}
	m.expectMetricAtLeast(ms, 1, "keepalived_pool_allocation_failures_total", "pool", "tiny", "reason", "exhausted")

	e.createService("asks-in-pool", withRequestedIP("10.210.204.12"))
	e.waitEvent("asks-in-pool", "SyncLoadBalancerFailed", "address 10.210.204.12 is reserved")
	e.createService("asks-outside", withRequestedIP("10.210.204.200"))
	e.waitEvent("asks-outside", "SyncLoadBalancerFailed", "address 10.210.204.200 is reserved")
	e.assertNoIP("asks-in-pool", 0)
	e.assertNoIP("asks-outside", 0)
	e.assertNoIP("s5", 6*time.Second) // over a retry: the reserved addresses stay unused
	if cm := e.configMap(); cm != nil {
		for _, ip := range []string{"10.210.204.9", "10.210.204.11", "10.210.204.12", "10.210.204.13", "10.210.204.200", "10.210.214.255", "10.210.215.0"} {
			if v, ok := cm.Data[ip]; ok {
				t.Errorf("ConfigMap has entry %q: %q, an address never to be handed out", ip, v)
			}
		}
	}
}
