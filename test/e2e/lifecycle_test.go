package e2e

import (
	"slices"
	"testing"
)

// TestLifecycle: create → an address from the pool in status (ipMode VIP), its entry in
// the ConfigMap, the cleanup finalizer; delete → entry and object gone; the address goes
// to the next new Service. Uses the default ConfigMap and only the product's RBAC.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.1.10-10.210.1.11", configMap: defaultConfigMap})

	e.createService("a")
	ipA := e.waitIP("a")
	e.assertInPool("a", ipA)
	if s := e.getService("a"); !slices.Contains(s.Finalizers, cleanupFinalizer) {
		t.Errorf("Service a has finalizers %v, want %s", s.Finalizers, cleanupFinalizer)
	}
	e.waitEntry(ipA, e.key("a"))
	e.waitEvent("a", "EnsuredLoadBalancer")

	e.createService("b")
	ipB := e.waitIP("b")
	e.assertInPool("b", ipB)
	if ipB == ipA {
		t.Fatalf("a and b both got %s", ipA)
	}
	cm := e.waitEntry(ipB, e.key("b"))
	if got := cm.Data[ipA]; got != e.key("a") {
		t.Errorf("entry %s = %q after b was added, want %q", ipA, got, e.key("a"))
	}

	e.deleteService("a") // returns once the object is gone: the finalizer was removed
	cm = e.waitNoEntry(ipA)
	if got := cm.Data[ipB]; got != e.key("b") {
		t.Errorf("entry %s = %q after a was deleted, want %q", ipB, got, e.key("b"))
	}

	// The pool has two addresses and b holds one: c can only get a's old address.
	e.createService("c")
	if ipC := e.waitIP("c"); ipC != ipA {
		t.Errorf("c got %s, want %s, freed by a", ipC, ipA)
	}
	e.waitEntry(ipA, e.key("c"))
}
