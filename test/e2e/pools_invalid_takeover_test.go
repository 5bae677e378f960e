package e2e

import (
	"context"
	"testing"
	"time"
)

// TestPoolsInvalidAtTakeover: two replicas read a pools file with pools a and b. The
// operator removes pool a (a valid edit, which the leader applies), then writes an
// invalid file, and the leader is killed. The standby takes over while the file is
// invalid, and must not fall back to the pools it read at its own start: it keeps and
// publishes every address a status shows (pool a's too), releases on delete, hands out
// nothing new (least of all an address of the removed pool a) and tells each waiting
// Service why (a Warning event PoolsFileInvalid). Within 5 s of the file becoming valid
// again a waiting Service gets an address of pool b, and a Service naming pool a is
// refused: it does not exist.
func TestPoolsInvalidAtTakeover(t *testing.T) {
	const poolB = `
  - name: b
    addresses: [10.210.234.20-10.210.234.22]
`
	pe := newPoolsEnv(t, `
pools:
  - name: a
    addresses: [10.210.234.10-10.210.234.12]`+poolB)
	e := pe.env
	standby := e.startReplica("standby")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := standby.WaitForOutput(ctx, "attempting to acquire leader lease"); err != nil {
		t.Fatalf("setup: the standby never waited for the lease (it reads the pools file before): %v\n%s", err, standby.Tail(40))
	}
	e.createService("in-a")
	e.waitAssigned("in-a", "10.210.234.10")
	e.createService("gone-a")
	e.waitAssigned("gone-a", "10.210.234.11")
	e.createService("in-b", withPool("b"))
	e.waitAssigned("in-b", "10.210.234.20")

	// Step 1: the operator removes pool a; the leader applies it.
	pe.writePools("pools:" + poolB)
	e.waitUsage("b: 1 of 3 in use")

	// Step 2: then writes an invalid file; the leader keeps pool b.
	mark := e.logMark()
	pe.writePools("pools:" + poolB + "    colour: blue\n")
	e.waitLog(mark, reloadTimeout, "invalid", "colour")
	before := map[string]string{"in-a": "10.210.234.10", "gone-a": "10.210.234.11", "in-b": "10.210.234.20"}

	// Step 3: the leader is killed; the standby takes over while the file is invalid.
	e.killProvider()
	killed := time.Now()
	e.takeOver(standby)
	t.Logf("the standby leads %s after the leader was killed", time.Since(killed).Round(100*time.Millisecond))
	e.waitConsistentStep("step 3 (standby took over while the pools file is invalid: every status kept and published)", assignTimeout)
	for name, ip := range before {
		if got := e.getIP(name); got != ip {
			t.Errorf("step 3: %s has %q after the takeover, want %s (its status)", name, got, ip)
		}
	}

	// Step 4: release on delete.
	e.deleteService("gone-a")
	e.waitNoEntry("10.210.234.11")

	// Step 5: new Services wait, and are told why; nothing comes from the removed pool a.
	e.createService("newcomer")
	e.createService("asks-a", withPool("a"))
	e.expectWaiting("step 5 (a new Service while the pools file is invalid)", "newcomer", 6*time.Second)
	e.expectWaiting("step 5 (a Service naming the removed pool a while the pools file is invalid)", "asks-a", 0)

	// Step 6: the file is valid again (pool b only): the newcomer gets an address of b at once.
	pe.writePools("pools:" + poolB)
	valid := time.Now()
	got := e.expectResumed("step 6 (pools file valid again)", "newcomer", valid)
	if got != "10.210.234.21" {
		t.Errorf("step 6: newcomer got %s, want 10.210.234.21 (the lowest free address of pool b, the only pool)", got)
	}
	e.waitEntryStep("step 6", got, e.key("newcomer"))
	e.waitEvent("asks-a", "SyncLoadBalancerFailed", `names pool "a", which does not exist`)
	e.assertNoIP("asks-a", 0)
	if ip := e.getIP("in-a"); ip != "10.210.234.10" {
		t.Errorf("step 6: in-a has %q, want 10.210.234.10 (kept, although outside every pool now)", ip)
	}
	e.waitConsistentStep("step 6", assignTimeout)
}
