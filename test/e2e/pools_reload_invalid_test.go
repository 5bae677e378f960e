package e2e

import (
	"testing"
	"time"
)

// TestPoolsReloadInvalid: edits of the pools file that do not validate (an unknown field,
// then overlapping pools) change nothing: the pools in force stay (new Services get
// addresses of the old pool and no more), the provider logs each error and counts it in
// keepalived_pools_reload_failures_total, and the process keeps running. The next valid
// edit applies.
func TestPoolsReloadInvalid(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: steady
    addresses: [10.210.207.10-10.210.207.12]
`)
	e := pe.env
	pid := e.p.PID()
	m := e.newMetricsReader()

	e.createService("s1")
	e.waitAssigned("s1", "10.210.207.10")
	ms := m.scrape()
	m.expectMetric(ms, 3, "keepalived_pool_addresses", "pool", "steady")
	m.expectMetric(ms, 1, "keepalived_pool_addresses_in_use", "pool", "steady")
	m.expectMetric(ms, 0, "keepalived_pools_reload_failures_total")

	// An unknown field, in an edit that would also grow the pool.
	mark := e.logMark()
	pe.writePools(`
pools:
  - name: steady
    addresses: [10.210.207.10-10.210.207.20]
    colour: blue
`)
	line := e.waitLog(mark, reloadTimeout, "Pools file changed but is invalid; keeping the pools in force", "unknown field", "colour", pe.path)
	t.Logf("logged: %s", line)
	m.waitMetric(1, "keepalived_pools_reload_failures_total")
	e.assertSameProcess(pid)
	e.createService("s2")
	e.waitAssigned("s2", "10.210.207.11")

	// Overlapping pools.
	mark = e.logMark()
	pe.writePools(`
pools:
  - name: steady
    addresses: [10.210.207.10-10.210.207.20]
  - name: other
    addresses: [10.210.207.15-10.210.207.25]
`)
	line = e.waitLog(mark, reloadTimeout, "Pools file changed but is invalid; keeping the pools in force", "overlaps", "other", pe.path)
	t.Logf("logged: %s", line)
	m.waitMetric(2, "keepalived_pools_reload_failures_total")
	e.assertSameProcess(pid)
	e.createService("s3")
	e.waitAssigned("s3", "10.210.207.12")
	e.createService("s4")
	e.waitEvent("s4", "SyncLoadBalancerFailed", `pool "steady": no free address in 10.210.207.10-10.210.207.12 (3 of 3 in use)`)
	e.assertNoIP("s4", 6*time.Second) // over a retry: still the old pool
	ms = m.scrape()
	m.expectMetric(ms, 3, "keepalived_pool_addresses", "pool", "steady")
	m.expectMetric(ms, 3, "keepalived_pool_addresses_in_use", "pool", "steady")
	m.expectMetricAtLeast(ms, 1, "keepalived_pool_allocation_failures_total", "pool", "steady", "reason", "exhausted")
	if _, ok := ms.get("keepalived_pool_addresses", "pool", "other"); ok {
		t.Errorf("keepalived_pool_addresses has a sample for pool \"other\" of the refused edit: %s", ms.of("keepalived_pool_addresses"))
	}
	e.waitUsage("steady: 3 of 3 in use")

	// A valid edit applies.
	pe.writePools(`
pools:
  - name: steady
    addresses: [10.210.207.10-10.210.207.13]
`)
	e.waitServiceIs("s4", "10.210.207.13", reloadTimeout)
	e.waitEntry("10.210.207.13", e.key("s4"))
	ms = m.waitMetric(4, "keepalived_pool_addresses", "pool", "steady")
	m.expectMetric(ms, 4, "keepalived_pool_addresses_in_use", "pool", "steady")
	m.expectMetric(ms, 2, "keepalived_pools_reload_failures_total")
	e.assertSameProcess(pid)
}
