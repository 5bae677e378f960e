package e2e

import (
	"testing"
	"time"
)

// TestExhaustion: with a pool of two addresses the third Service waits, with an event
// naming the pool; when an address is freed it gets it within about 10 s (the provider
// asks for a retry every 5 s while the pool is exhausted).
func TestExhaustion(t *testing.T) {
	const pool = "10.210.9.10-10.210.9.11"
	e := newEnv(t, config{pool: pool})

	e.createService("s1")
	e.createService("s2")
	ip1, ip2 := e.waitIP("s1"), e.waitIP("s2")
	if ip1 == ip2 {
		t.Fatalf("s1 and s2 both got %s", ip1)
	}
	e.assertInPool("s1", ip1)
	e.assertInPool("s2", ip2)

	e.createService("s3")
	e.waitEvent("s3", "SyncLoadBalancerFailed", "no free address in", "10.210.9.10")
	e.assertNoIP("s3", 2*time.Second)

	e.deleteService("s1")
	freed := time.Now()
	e.waitServiceIs("s3", ip1, 11*time.Second)
	t.Logf("s3 got %s %s after s1 was gone", ip1, time.Since(freed).Round(100*time.Millisecond))
	e.waitEntry(ip1, e.key("s3"))
}
