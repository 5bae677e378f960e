package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPoolsManualOnly: a pool with autoAssign: false is never used for a Service that
// neither names it nor asks for an address in it, even when every other pool is full (the
// waiting Service's event names only the auto-assign pool); a Service that names it, or
// that asks for one of its addresses, gets its address there.
func TestPoolsManualOnly(t *testing.T) {
	e := newPoolsEnv(t, `
pools:
  - name: auto
    addresses: [10.210.203.10-10.210.203.11]
  - name: manual
    addresses: [10.210.203.100-10.210.203.103]
    autoAssign: false
`).env

	e.createService("p1")
	e.waitAssigned("p1", "10.210.203.10")
	e.createService("p2")
	e.waitAssigned("p2", "10.210.203.11")
	e.createService("p3")
	ev := e.waitEvent("p3", "SyncLoadBalancerFailed", `pool "auto": no free address in 10.210.203.10/31 (2 of 2 in use)`)
	if strings.Contains(ev.Message, "manual") {
		t.Errorf("p3's event mentions the manual-only pool: %q", ev.Message)
	}

	e.createService("named", withPool("manual"))
	e.waitAssigned("named", "10.210.203.100")
	e.createService("asks", withRequestedIP("10.210.203.102"))
	e.waitAssigned("asks", "10.210.203.102")
	e.waitUsage("auto: 2 of 2 in use; manual: 2 of 4 in use")

	// The manual pool has two free addresses; p3 (retried every 5 s) still gets none.
	e.assertNoIP("p3", 6*time.Second)
}
