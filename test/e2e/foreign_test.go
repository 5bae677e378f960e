package e2e

import (
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestHandWrittenEntries: entries someone else wrote (a Service of theirs, or an empty
// value: "announce, no backend"), before the provider started or while it runs, are never
// changed or removed, and their addresses are never handed out.
func TestHandWrittenEntries(t *testing.T) {
	const pool = "10.210.5.10-10.210.5.14"
	e := newEnv(t, config{pool: pool, manualStart: true})
	foreign := map[string]string{
		"10.210.5.10": "other/thing",
		"10.210.5.11": "",
		"10.99.5.1":   "other/outside:DR",
		"notes":       "hand-written, not an address",
	}
	e.putEntries(foreign, nil)
	e.startProvider()

	e.createService("s1")
	e.createService("s2")
	got := []string{e.waitIP("s1"), e.waitIP("s2")}
	slices.Sort(got)
	if want := []string{"10.210.5.12", "10.210.5.13"}; !slices.Equal(got, want) {
		t.Fatalf("s1 and s2 got %v, want %v: the pool addresses without a hand-written entry", got, want)
	}
	ipS1 := e.getIP("s1")

	// Added while the provider runs: the last free pool address, and one outside the pool.
	late := map[string]string{"10.210.5.14": "", "10.210.5.200": "late/entry"}
	e.putEntries(late, nil)
	maps.Copy(foreign, late)

	// The pool is now full: s3 waits, told so, retried every 5 s.
	e.createService("s3")
	e.assertNoIP("s3", 6*time.Second)
	e.expectEvent("s3", "SyncLoadBalancerFailed", "no free address in", "10.210.5.1")

	// Asking for a hand-written address is refused, naming the ConfigMap.
	e.createService("wants-foreign", withRequestedIP("10.210.5.10"))
	e.waitEvent("wants-foreign", "SyncLoadBalancerFailed", "10.210.5.10", e.cm)
	e.assertNoIP("wants-foreign", 0)

	e.deleteService("s1")
	e.waitServiceIs("s3", ipS1, 15*time.Second)
	e.waitEntry(ipS1, e.key("s3"))

	// Every hand-written entry is still there, unchanged; nothing else but ours.
	cm := e.configMap()
	for k, v := range foreign {
		if got, ok := cm.Data[k]; !ok || got != v {
			t.Errorf("hand-written entry %q: %q is now %q (present: %t)", k, v, got, ok)
		}
	}
	for _, k := range ownedKeys(cm) {
		if _, isForeign := foreign[k]; isForeign {
			t.Errorf("hand-written key %q is listed in %s", k, annotationOwned)
		}
	}

	// Once our Services are gone, exactly the hand-written entries remain.
	for _, name := range []string{"s2", "s3", "wants-foreign"} {
		e.deleteService(name)
	}
	cm = e.waitConfigMap("only hand-written entries", func(cm *corev1.ConfigMap) bool { return len(cm.Data) == len(foreign) })
	if !maps.Equal(cm.Data, foreign) {
		t.Errorf("after deleting every Service, data = %v, want the hand-written %v", cm.Data, foreign)
	}
}
