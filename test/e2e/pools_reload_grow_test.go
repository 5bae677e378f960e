package e2e

import (
	"testing"
	"time"
)

// TestPoolsReloadGrow: with its pool full, a Service waits with "no free address"; the
// pools file grows the pool (atomically replaced, as the kubelet swaps a ConfigMap) and
// the waiting Service gets an address within about 10 s, from the same provider process.
// Adding a new pool serves the next waiting Service the same way.
func TestPoolsReloadGrow(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: grow
    addresses: [10.210.205.10-10.210.205.11]
`)
	e := pe.env
	pid := e.p.PID()

	e.createService("s1")
	e.waitAssigned("s1", "10.210.205.10")
	e.createService("s2")
	e.waitAssigned("s2", "10.210.205.11")
	e.createService("s3")
	e.waitEvent("s3", "SyncLoadBalancerFailed", `pool "grow": no free address in 10.210.205.10/31 (2 of 2 in use)`)
	e.waitUsage("grow: 2 of 2 in use")

	mark := e.logMark()
	edited := time.Now()
	pe.writePools(`
pools:
  - name: grow
    addresses: [10.210.205.10-10.210.205.13]
`)
	e.waitLog(mark, reloadTimeout, "Address pools changed")
	applied := time.Since(edited)
	e.waitServiceIs("s3", "10.210.205.12", reloadTimeout-time.Since(edited))
	t.Logf("pools applied %s after the edit; s3 got its address %s after it", applied.Round(100*time.Millisecond), time.Since(edited).Round(100*time.Millisecond))
	e.waitEntry("10.210.205.12", e.key("s3"))
	e.waitUsage("grow: 3 of 4 in use")
	e.assertSameProcess(pid)

	e.createService("s4")
	e.waitAssigned("s4", "10.210.205.13")
	e.createService("s5")
	e.waitEvent("s5", "SyncLoadBalancerFailed", `pool "grow": no free address in 10.210.205.10-10.210.205.13 (4 of 4 in use)`)

	// A new pool, listed after the first.
	edited = time.Now()
	pe.writePools(`
pools:
  - name: grow
    addresses: [10.210.205.10-10.210.205.13]
  - name: extra
    addresses: [10.210.205.100/32]
`)
	e.waitServiceIs("s5", "10.210.205.100", reloadTimeout)
	t.Logf("s5 got an address of the new pool %s after the edit", time.Since(edited).Round(100*time.Millisecond))
	e.waitEntry("10.210.205.100", e.key("s5"))
	e.waitUsage("grow: 4 of 4 in use; extra: 1 of 1 in use")
	for name, want := range map[string]string{"s1": "10.210.205.10", "s2": "10.210.205.11", "s3": "10.210.205.12", "s4": "10.210.205.13"} {
		if got := e.getIP(name); got != want {
			t.Errorf("%s moved from %s to %s when the pools changed", name, want, got)
		}
	}
	e.assertSameProcess(pid)
}
