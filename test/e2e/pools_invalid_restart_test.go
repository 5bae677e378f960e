package e2e

import (
	"testing"
	"time"
)

// TestPoolsInvalidAtRestart: the provider is killed and started again while the pools
// file is invalid (overlapping pools). It does not exit (after a node drain every
// replica would be in a crash loop): it leads, says why (a log line naming the file and
// the problem), keeps and publishes every address a status shows, releases on delete,
// hands out nothing new (a new Service waits with a Warning event PoolsFileInvalid), and
// within 5 s of the file becoming valid again the waiting Service gets the lowest free
// address, all in the same process.
func TestPoolsInvalidAtRestart(t *testing.T) {
	const valid = `
pools:
  - name: p
    addresses: [10.210.235.10-10.210.235.13]
`
	pe := newPoolsEnv(t, valid)
	e := pe.env
	before := map[string]string{"s1": "10.210.235.10", "s2": "10.210.235.11", "s3": "10.210.235.12"}
	for _, name := range []string{"s1", "s2", "s3"} {
		e.createService(name)
		e.waitAssigned(name, before[name])
	}

	// Step 1: restart while the file is invalid.
	e.killProvider()
	pe.writePools(valid + `  - name: q
    addresses: [10.210.235.12-10.210.235.20]
`)
	if err := e.startProviderErr(); err != nil {
		t.Fatalf("step 1 (provider restarted while the pools file is invalid): want it running and leading: %v", err)
	}
	pid := e.p.PID()
	e.expectOneLogEntry("step 1 (says why)", 0, reloadTimeout, pe.path, "overlaps")

	// Step 2: every status kept and published.
	e.waitConsistentStep("step 2 (every status kept and published)", assignTimeout)
	for name, ip := range before {
		if got := e.getIP(name); got != ip {
			t.Errorf("step 2: %s has %q after the restart, want %s (its status)", name, got, ip)
		}
	}

	// Step 3: release on delete.
	e.deleteService("s2")
	e.waitNoEntry("10.210.235.11")

	// Step 4: a new Service waits, told why.
	e.createService("s4")
	e.expectWaiting("step 4 (a new Service while the pools file is invalid)", "s4", 6*time.Second)
	e.assertSameProcess(pid)

	// Step 5: valid again: s4 gets the lowest free address at once, from the same process.
	pe.writePools(valid)
	validAt := time.Now()
	got := e.expectResumed("step 5 (pools file valid again)", "s4", validAt)
	if got != "10.210.235.11" {
		t.Errorf("step 5: s4 got %s, want 10.210.235.11 (the lowest free address, released by s2)", got)
	}
	e.waitEntryStep("step 5", got, e.key("s4"))
	e.waitConsistentStep("step 5", assignTimeout)
	e.assertSameProcess(pid)
}
