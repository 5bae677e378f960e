package e2e

import (
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestRequestedAddress: an address asked for with the annotation or spec.loadBalancerIP,
// inside the pool or (with the operator's opt-in) outside it, is the one given; Services without a request never get a
// requested address; a second Service asking for a held address is refused with an event
// naming the holder, and gets the address once the holder is gone.
func TestRequestedAddress(t *testing.T) {
	const pool = "10.210.3.4-10.210.3.7"
	// Requests outside the pool are the operator's opt-in (the 2017 behaviour).
	e := newEnv(t, config{pool: pool, env: []string{"KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS=true"}})

	e.createService("anno-in", withRequestedIP("10.210.3.5"))
	if got := e.waitIP("anno-in"); got != "10.210.3.5" {
		t.Fatalf("anno-in asked for 10.210.3.5 with %s and got %s", annotationAddress, got)
	}
	e.waitEntry("10.210.3.5", e.key("anno-in"))

	e.createService("spec-in", withLoadBalancerIP("10.210.3.6"))
	if got := e.waitIP("spec-in"); got != "10.210.3.6" {
		t.Fatalf("spec-in asked for 10.210.3.6 with spec.loadBalancerIP and got %s", got)
	}
	e.waitEntry("10.210.3.6", e.key("spec-in"))

	// Outside the pool: honoured too, as the operator allowed it.
	e.createService("anno-out", withRequestedIP("10.210.103.9"))
	if got := e.waitIP("anno-out"); got != "10.210.103.9" {
		t.Fatalf("anno-out asked for 10.210.103.9 (outside the pool) and got %s", got)
	}
	e.waitEntry("10.210.103.9", e.key("anno-out"))
	e.createService("spec-out", withLoadBalancerIP("10.210.103.10"))
	if got := e.waitIP("spec-out"); got != "10.210.103.10" {
		t.Fatalf("spec-out asked for 10.210.103.10 (outside the pool) and got %s", got)
	}
	e.waitEntry("10.210.103.10", e.key("spec-out"))

	// The two free pool addresses go to plain Services; then the pool is exhausted.
	e.createService("plain1")
	e.createService("plain2")
	got := []string{e.waitIP("plain1"), e.waitIP("plain2")}
	slices.Sort(got)
	if want := []string{"10.210.3.4", "10.210.3.7"}; !slices.Equal(got, want) {
		t.Fatalf("plain1 and plain2 got %v, want %v (the addresses nobody asked for)", got, want)
	}
	e.createService("plain3")
	e.waitEvent("plain3", "SyncLoadBalancerFailed", "no free address")
	e.assertNoIP("plain3", 0)

	e.createService("dup-out", withLoadBalancerIP("10.210.103.9"))
	e.waitEvent("dup-out", "SyncLoadBalancerFailed", "10.210.103.9", e.key("anno-out"))
	e.assertNoIP("dup-out", 0)

	e.createService("differ", withRequestedIP("10.210.3.5"), withLoadBalancerIP("10.210.3.6"))
	e.waitEvent("differ", "SyncLoadBalancerFailed", annotationAddress, "spec.loadBalancerIP", "10.210.3.5", "10.210.3.6")
	e.assertNoIP("differ", 0)

	e.createService("dup", withRequestedIP("10.210.3.5"))
	e.waitEvent("dup", "SyncLoadBalancerFailed", "10.210.3.5", e.key("anno-in"))
	e.assertNoIP("dup", 0)

	// The holder goes: the address passes to the Service that asked for it, not to the
	// Service waiting for any free address. (The service controller retries dup after
	// 5, 10, 20 s.)
	e.deleteService("anno-in")
	e.waitServiceIs("dup", "10.210.3.5", 40*time.Second)
	e.waitEntry("10.210.3.5", e.key("dup"))
	e.assertNoIP("plain3", 6*time.Second) // longer than plain3's 5 s retry

	// Asking for another address moves the Service and frees the old one at once.
	e.createService("mover", withRequestedIP("10.210.103.20"))
	e.waitEntry("10.210.103.20", e.key("mover"))
	e.updateService("mover", func(s *corev1.Service) { s.Annotations[annotationAddress] = "10.210.103.21" })
	e.waitServiceIs("mover", "10.210.103.21", assignTimeout)
	e.waitEntry("10.210.103.21", e.key("mover"))
	e.waitNoEntry("10.210.103.20")
	e.createService("follower", withRequestedIP("10.210.103.20"))
	if got := e.waitIP("follower"); got != "10.210.103.20" {
		t.Errorf("follower asked for 10.210.103.20, freed by mover, and got %s", got)
	}
	e.deleteService("mover")
	e.deleteService("follower")

	cm := e.configMap()
	want := map[string]string{
		"10.210.3.5": e.key("dup"), "10.210.3.6": e.key("spec-in"),
		"10.210.103.9": e.key("anno-out"), "10.210.103.10": e.key("spec-out"),
		e.getIP("plain1"): e.key("plain1"), e.getIP("plain2"): e.key("plain2"),
	}
	if !maps.Equal(cm.Data, want) {
		t.Errorf("ConfigMap data = %v, want %v", cm.Data, want)
	}
}
