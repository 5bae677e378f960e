package e2e

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestPoolsReloadShrink: the pools file drops an address a Service holds and reserves
// another one a Service holds. Both Services keep their addresses (status and ConfigMap
// entry unchanged, the provider logs each), neither address is handed to a new Service
// (which gets the one address still free, and the next one waits), and a Service that
// asks for the dropped address is refused (outside every pool). Growing the pool back
// counts the held addresses in it again.
func TestPoolsReloadShrink(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: shrink
    addresses: [10.210.206.10-10.210.206.13]
`)
	e := pe.env
	pid := e.p.PID()
	m := e.newMetricsReader()

	for i, name := range []string{"s1", "s2", "s3"} {
		e.createService(name)
		e.waitAssigned(name, []string{"10.210.206.10", "10.210.206.11", "10.210.206.12"}[i])
	}
	e.waitUsage("shrink: 3 of 4 in use")
	before := map[string]*corev1.Service{"s1": e.getService("s1"), "s3": e.getService("s3")}
	cmBefore := e.configMap()

	// .12 (s3's) leaves every pool; .10 (s1's) becomes reserved; .13 stays free.
	mark := e.logMark()
	pe.writePools(`
pools:
  - name: shrink
    addresses: [10.210.206.10-10.210.206.11, 10.210.206.13]
reserved: [10.210.206.10]
`)
	e.waitUsage("shrink: 1 of 2 in use")
	for _, ip := range []string{"10.210.206.10", "10.210.206.12"} {
		e.waitLog(mark, reloadTimeout, "Address lies outside every pool now", `address="`+ip+`"`)
	}

	e.createService("s4")
	e.waitAssigned("s4", "10.210.206.13")
	e.createService("s5")
	e.waitEvent("s5", "SyncLoadBalancerFailed", `pool "shrink": no free address`, "(2 of 2 in use)")
	e.createService("asks-dropped", withRequestedIP("10.210.206.12"))
	// Outside every pool now: refused by the pool rules before anyone asks who holds it.
	e.waitEvent("asks-dropped", "SyncLoadBalancerFailed", "requested address 10.210.206.12", "outside every address pool")
	e.createService("asks-reserved", withRequestedIP("10.210.206.10"))
	e.waitEvent("asks-reserved", "SyncLoadBalancerFailed", "address 10.210.206.10 is reserved")
	e.assertNoIP("s5", 6*time.Second) // over a retry

	// s1 and s3 are as they were: status and entries.
	for name, svc := range before {
		now := e.getService(name)
		if !reflect.DeepEqual(now.Status.LoadBalancer, svc.Status.LoadBalancer) {
			t.Errorf("%s's status changed after the shrink: %s, was %s", name, controlplane.DescribeService(now), controlplane.DescribeService(svc))
		}
	}
	cm := e.configMap()
	for _, ip := range []string{"10.210.206.10", "10.210.206.12"} {
		if cm.Data[ip] != cmBefore.Data[ip] || cm.Data[ip] == "" {
			t.Errorf("entry %q is %q after the shrink, was %q", ip, cm.Data[ip], cmBefore.Data[ip])
		}
	}
	ms := m.scrape()
	m.expectMetric(ms, 2, "keepalived_pool_addresses", "pool", "shrink")
	m.expectMetric(ms, 2, "keepalived_pool_addresses_in_use", "pool", "shrink")
	m.expectMetric(ms, 2, "keepalived_addresses_outside_pools")
	m.expectMetricAtLeast(ms, 1, "keepalived_pool_allocation_failures_total", "pool", "shrink", "reason", "exhausted")
	m.expectMetricAtLeast(ms, 1, "keepalived_pool_allocation_failures_total", "pool", "", "reason", "not_allowed")

	// Back to the first pools: the held addresses count again, and nobody else gets them.
	pe.writePools(`
pools:
  - name: shrink
    addresses: [10.210.206.10-10.210.206.13]
`)
	e.waitUsage("shrink: 4 of 4 in use")
	m.waitMetric(0, "keepalived_addresses_outside_pools")
	e.assertNoIP("s5", 6*time.Second)
	for name, want := range map[string]string{"s1": "10.210.206.10", "s2": "10.210.206.11", "s3": "10.210.206.12", "s4": "10.210.206.13"} {
		if got := e.getIP(name); got != want {
			t.Errorf("%s has %s, want %s", name, got, want)
		}
		e.waitEntry(want, e.key(name))
	}
	e.assertSameProcess(pid)
}
