package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRestart: the provider is killed (SIGKILL) with a full pool and a Service waiting;
// while it is down two Services are deleted, one Service asks for the address of one of
// them and another plain one is created. The new process (which must first wait for the
// dead one's lease to expire) moves no address, gives the requested address to the
// requester, and gives the other freed address to a waiting Service, never the requested one.
func TestRestart(t *testing.T) {
	const pool = "10.210.8.10-10.210.8.13"
	e := newEnv(t, config{pool: pool})

	before := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		e.createService(name)
		before[name] = e.waitIP(name) // one at a time: each gets the lowest free address
		e.assertInPool(name, before[name])
	}
	e.createService("waiting")
	e.waitEvent("waiting", "SyncLoadBalancerFailed", "no free address")

	e.killProvider()
	ctx := context.Background()
	for _, name := range []string{"b", "c"} {
		// With the finalizer, the objects stay until a provider releases their addresses.
		if err := e.c.CoreV1().Services(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.createService("requester", withRequestedIP(before["c"]))
	e.createService("newcomer")

	downSince := time.Now()
	e.startProvider()
	t.Logf("new provider led %s after the old one was killed (lease duration 4s)", time.Since(downSince).Round(100*time.Millisecond))

	if got := e.waitIP("requester"); got != before["c"] {
		t.Errorf("requester asked for %s and got %s", before["c"], got)
	}
	e.waitEntry(before["c"], e.key("requester"))
	for _, name := range []string{"b", "c"} {
		ctx, cancel := context.WithTimeout(ctx, assignTimeout)
		e.waitGone(ctx, name)
		cancel()
	}
	for _, name := range []string{"a", "d"} {
		if got := e.getIP(name); got != before[name] {
			t.Errorf("%s moved from %s to %s across the restart", name, before[name], got)
		}
		e.waitEntry(before[name], e.key(name))
	}

	// b's address is the only free one: exactly one of waiting and newcomer gets it (the
	// waiting one may be retried later than the newcomer is first tried).
	deadline := time.Now().Add(assignTimeout)
	var winner, loser string
	for winner == "" && time.Now().Before(deadline) {
		for _, name := range []string{"waiting", "newcomer"} {
			if ip := e.getIP(name); ip != "" {
				if ip != before["b"] {
					t.Fatalf("%s got %s, want %s, the only address nobody held or asked for", name, ip, before["b"])
				}
				winner = name
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if winner == "" {
		t.Fatalf("neither waiting nor newcomer got %s, freed by b", before["b"])
	}
	loser = map[string]string{"waiting": "newcomer", "newcomer": "waiting"}[winner]
	e.waitEntry(before["b"], e.key(winner))
	e.assertNoIP(loser, 6*time.Second)

	// And the last one gets the next address freed.
	e.deleteService("a")
	e.waitServiceIs(loser, before["a"], 15*time.Second)
	e.waitEntry(before["a"], e.key(loser))
}
