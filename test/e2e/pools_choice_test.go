package e2e

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestPoolsAnnotationChoice: a Service that names its pool with k8s.co/keepalived-pool
// gets an address from it (a /30 loses its network and broadcast addresses), also
// together with a request for an address in it. Naming a pool that does not exist, or one
// that does not serve the Service's namespace, or asking for an address of another pool
// than the one named, fails with a SyncLoadBalancerFailed event that says why; fixing the
// annotation gives the Service its address. Failures are counted by pool and reason.
func TestPoolsAnnotationChoice(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: first
    addresses: [10.210.202.10-10.210.202.12]
  - name: second
    addresses: [10.210.202.20/30]
  - name: other-team
    addresses: [10.210.202.30-10.210.202.31]
    namespaces: [{ns-other}]
`, "other")
	e, other := pe.env, pe.in("other")
	m := e.newMetricsReader()

	e.createService("plain")
	e.waitAssigned("plain", "10.210.202.10")
	e.createService("in-second", withPool("second"))
	e.waitAssigned("in-second", "10.210.202.21")
	other.createService("in-other-team", withPool("other-team"))
	other.waitAssigned("in-other-team", "10.210.202.30")

	e.createService("wrong-namespace", withPool("other-team"))
	e.waitEvent("wrong-namespace", "SyncLoadBalancerFailed",
		`annotation k8s.co/keepalived-pool names pool "other-team", which serves namespaces [`+other.ns+`] only`)
	e.assertNoIP("wrong-namespace", 0)

	e.createService("missing", withPool("nope"))
	e.waitEvent("missing", "SyncLoadBalancerFailed",
		`annotation k8s.co/keepalived-pool names pool "nope", which does not exist; the pools are "first", "second", "other-team"`)
	e.assertNoIP("missing", 0)
	// Fixing the annotation re-syncs the Service.
	e.updateService("missing", func(s *corev1.Service) { s.Annotations[annotationPool] = "first" })
	e.waitAssigned("missing", "10.210.202.11")

	// Named pool and requested address together.
	e.createService("second-asks", withPool("second"), withRequestedIP("10.210.202.22"))
	e.waitAssigned("second-asks", "10.210.202.22")

	ms := m.scrape()
	for _, p := range []struct {
		name        string
		size, inUse float64
	}{{"first", 3, 2}, {"second", 2, 2}, {"other-team", 2, 1}} {
		m.expectMetric(ms, p.size, "keepalived_pool_addresses", "pool", p.name)
		m.expectMetric(ms, p.inUse, "keepalived_pool_addresses_in_use", "pool", p.name)
	}
	m.expectMetricAtLeast(ms, 1, "keepalived_pool_allocation_failures_total", "pool", "other-team", "reason", "not_allowed")

	e.createService("mismatch", withPool("second"), withRequestedIP("10.210.202.12"))
	e.waitEvent("mismatch", "SyncLoadBalancerFailed",
		`requested address 10.210.202.12: address 10.210.202.12 is in pool "first", but annotation k8s.co/keepalived-pool names pool "second"`)
	e.assertNoIP("mismatch", 0)
	m.expectMetricAtLeast(m.scrape(), 1, "keepalived_pool_allocation_failures_total", "pool", "first", "reason", "not_allowed")
}
