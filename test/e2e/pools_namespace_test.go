package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPoolsNamespace: a pool that lists namespace A serves A's Services before the pool
// for every namespace, even though it comes later in the file; when it is full, A's
// Services fall through to the shared pool. Services of namespace B never get an address
// of A's pool: not automatically (B waits, with an event naming only the shared pool,
// while A's pool has a free address), and not by asking for one (refused, naming the
// pool and whom it serves). A refused request holds nothing: A still gets that address.
func TestPoolsNamespace(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: shared
    addresses: [10.210.201.10-10.210.201.12]
  - name: team-a
    addresses: [10.210.201.100-10.210.201.101]
    namespaces: [{ns}]
`, "b")
	a, b := pe.env, pe.in("b")

	// A's own pool first, in address order, although "shared" comes first in the file.
	a.createService("a1")
	a.waitAssigned("a1", "10.210.201.100")
	a.createService("a2")
	a.waitAssigned("a2", "10.210.201.101")
	// B: only the shared pool.
	b.createService("b1")
	b.waitAssigned("b1", "10.210.201.10")
	// A's pool is full: the next pool that serves A.
	a.createService("a3")
	a.waitAssigned("a3", "10.210.201.11")
	b.createService("b2")
	b.waitAssigned("b2", "10.210.201.12")

	// The shared pool is full; A's pool gets a free address, which B must not get.
	a.deleteService("a1")
	a.waitNoEntry("10.210.201.100")
	b.createService("b3")
	ev := b.waitEvent("b3", "SyncLoadBalancerFailed", `pool "shared": no free address in 10.210.201.10-10.210.201.12 (3 of 3 in use)`)
	if strings.Contains(ev.Message, "team-a") {
		t.Errorf("b3's event mentions team-a, a pool that does not serve %s: %q", b.ns, ev.Message)
	}
	b.assertNoIP("b3", 6*time.Second) // longer than the 5 s retry while exhausted

	// Asking for an address of A's pool from B: refused, with the reason.
	b.createService("b-asks", withRequestedIP("10.210.201.100"))
	b.waitEvent("b-asks", "SyncLoadBalancerFailed",
		"requested address 10.210.201.100", `is in pool "team-a", which serves namespaces [`+a.ns+`] only`)
	b.assertNoIP("b-asks", 0)

	// The refused request must not keep the address from the namespace it belongs to.
	a.createService("a4")
	if got := a.ipWithin("a4", 12*time.Second); got != "10.210.201.100" {
		t.Fatalf("a4 (namespace %s) has address %q after 12 s, want 10.210.201.100, the free address of its own pool "+
			"team-a: b-asks in %s, whose request for it was refused, must not hold it (usage annotation: %q)",
			a.ns, got, b.ns, a.usage())
	}
	a.waitEntry("10.210.201.100", a.key("a4"))
	b.assertNoIP("b3", 0)
	b.assertNoIP("b-asks", 0)
}
