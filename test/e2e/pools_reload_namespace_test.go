package e2e

import (
	"testing"
	"time"
)

// TestPoolsReloadServesNewNamespace: a Service in a namespace that no pool serves waits,
// with an event saying so. Once the pools file gives its namespace a pool, it gets an
// address within about 10 s, like a Service waiting for a full pool to grow, however
// long it has already waited (here three failed syncs, after which the service
// controller's own back-off is 20 s).
func TestPoolsReloadServesNewNamespace(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: elsewhere
    addresses: [10.210.213.10-10.210.213.11]
    namespaces: [{ns-other}]
`, "other")
	e := pe.env

	e.createService("s1")
	e.waitEvent("s1", "SyncLoadBalancerFailed", `no address pool hands out addresses in namespace "`+e.ns+`"`)
	// Let it fail three times (at 0, 5 and 15 s).
	deadline := time.Now().Add(30 * time.Second)
	for count := int32(0); count < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("s1 failed %d times in 30 s, want 3", count)
		}
		time.Sleep(500 * time.Millisecond)
		events, _ := eventsOf(e, "s1")
		count = 0
		for _, ev := range events {
			if ev.Reason == "SyncLoadBalancerFailed" {
				count += ev.Count
			}
		}
	}

	edited := time.Now()
	pe.writePools(`
pools:
  - name: elsewhere
    addresses: [10.210.213.10-10.210.213.11]
    namespaces: [{ns-other}, {ns}]
`)
	got := e.ipWithin("s1", reloadTimeout)
	took := time.Since(edited)
	if got == "" {
		got = e.ipWithin("s1", 60*time.Second)
		t.Fatalf("s1 had no address %s after the pools file gave its namespace a pool; it got %q after %s",
			reloadTimeout, got, time.Since(edited).Round(100*time.Millisecond))
	}
	t.Logf("s1 got %s %s after the edit", got, took.Round(100*time.Millisecond))
	if got != "10.210.213.10" {
		t.Errorf("s1 got %s, want 10.210.213.10", got)
	}
}
