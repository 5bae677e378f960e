package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// The product's names for a status conflict, spelled out as in harness_test.go.
const (
	reasonAddressConflict = "AddressConflict"
	metricNotices         = "keepalived_ledger_notices_total" // counted with reason="AddressConflict"
	// conflictTimeout bounds how soon a status edited by hand is noticed: the provider
	// follows Services through an informer.
	conflictTimeout = 10 * time.Second
)

// TestStatusConflictTwoServices: an admin patches one Service's status to the address
// another Service holds, so two statuses show one address. The provider reports the
// conflict (a Warning event AddressConflict on both Services, and the counter
// keepalived_ledger_notices_total{reason="AddressConflict"}), keeps the holder whose own status agrees (the
// ConfigMap entry stays the holder's), and hands the address to no third Service while a
// status shows it: neither while both statuses show it, nor after the holder is deleted
// and only the claimer's status shows it, at which point the claimer holds it (its
// entry is published) and holds exactly what its status shows.
func TestStatusConflictTwoServices(t *testing.T) {
	const pool = "10.210.232.10-10.210.232.15"
	e := newEnv(t, config{pool: pool})
	m := e.newMetricsReader()
	e.createService("holder")
	e.waitAssigned("holder", "10.210.232.10")
	e.createService("claimer")
	e.waitAssigned("claimer", "10.210.232.11")
	conflicts := func(ms metricSamples) float64 {
		v, _ := ms.get(metricNotices, "reason", reasonAddressConflict)
		return v
	}
	conflictsBefore := conflicts(m.scrape())

	// Step 1: two statuses show .10.
	e.patchStatusIP("claimer", "10.210.232.10")
	e.expectEventWithin(conflictTimeout, "step 1 (claimer's status patched to holder's address)", "holder", reasonAddressConflict, "10.210.232.10")
	e.expectEventWithin(conflictTimeout, "step 1 (claimer's status patched to holder's address)", "claimer", reasonAddressConflict, "10.210.232.10")
	if !pollFor(conflictTimeout, func(context.Context) bool { return conflicts(m.scrape()) > conflictsBefore }) {
		ms := m.scrape()
		t.Errorf("step 1: %s{reason=%q} is %v, want more than %v once the conflict is seen; its samples: %s",
			metricNotices, reasonAddressConflict, conflicts(ms), conflictsBefore, ms.of(metricNotices))
	}
	// The holder's own status agrees with its holding: it keeps the address and its entry.
	e.expectEntryStays("step 1", "10.210.232.10", e.key("holder"), 3*time.Second)
	if got := e.getIP("holder"); got != "10.210.232.10" {
		t.Errorf("step 1: holder's status moved to %q, want 10.210.232.10", got)
	}

	// Step 2: a third Service, while both statuses show .10.
	e.createService("third")
	third := e.waitIP("third")
	e.expectNotShown("step 2 (third Service while two statuses show 10.210.232.10)", "third", third)

	// Step 3: the holder goes; only the claimer's status shows .10 now. It is not free:
	// the claimer holds it, and a fourth Service gets another address.
	e.deleteService("holder")
	e.createService("fourth")
	fourth := e.waitIP("fourth")
	e.expectNotShown("step 3 (fourth Service after the holder was deleted)", "fourth", fourth)
	if fourth == "10.210.232.10" {
		t.Fatalf("step 3: fourth got 10.210.232.10 while claimer's status shows it: a duplicate address")
	}
	e.waitEntryStep("step 3 (claimer holds what its status shows)", "10.210.232.10", e.key("claimer"))
	e.waitConsistentStep("step 3 (every status backed by its own entry, nothing else)", assignTimeout)
}

// TestStatusPointsAtFreeAddress: an admin patches a Service's status to a free address of
// the pool it does not hold. The provider follows the status: the Service holds exactly
// what its status shows (an entry for the new address is published, the former one is
// removed and handed out again), no other Service gets the address, and when the service
// controller syncs the Service again its status stays where it was patched.
func TestStatusPointsAtFreeAddress(t *testing.T) {
	const pool = "10.210.233.10-10.210.233.15"
	e := newEnv(t, config{pool: pool})
	e.createService("mover")
	e.waitAssigned("mover", "10.210.233.10")
	e.createService("other")
	e.waitAssigned("other", "10.210.233.11")

	// Step 1: mover's status shows .14, free in the pool.
	e.patchStatusIP("mover", "10.210.233.14")
	e.waitEntryStep("step 1 (mover's status patched to a free address: its entry is published)", "10.210.233.14", e.key("mover"))
	e.waitConsistentStep("step 1 (mover holds exactly what its status shows; its former entry is gone)", assignTimeout)

	// Step 2: a new Service never gets .14; it gets the lowest free address, mover's former one.
	e.createService("newcomer")
	got := e.waitIP("newcomer")
	if got == "10.210.233.14" {
		t.Fatalf("step 2: newcomer got 10.210.233.14, which mover's status shows: a duplicate address")
	}
	if got != "10.210.233.10" {
		t.Errorf("step 2: newcomer got %s, want 10.210.233.10 (the lowest free address: mover's former one, released)", got)
	}
	e.waitConsistentStep("step 2", assignTimeout)

	// Step 3: the service controller syncs mover again (an annotation changed): it keeps .14.
	e.updateService("mover", func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations["e2e/poke"] = "1"
	})
	e.waitEnsuredAgain("step 3 (mover re-synced)", "mover")
	if ip := e.getIP("mover"); ip != "10.210.233.14" {
		t.Errorf("step 3: after a re-sync mover's status is %q, want 10.210.233.14 (what its status showed)", ip)
	}
	e.expectEntryStays("step 3", "10.210.233.14", e.key("mover"), 3*time.Second)
	e.waitConsistentStep("step 3", assignTimeout)
}

// patchStatusIP sets the Service's status to one ingress IP, as an admin would by hand.
func (e *env) patchStatusIP(name, ip string) {
	e.t.Helper()
	patch := fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":%q,"ipMode":"VIP"}]}}}`, ip)
	_, err := e.c.CoreV1().Services(e.ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if err != nil {
		e.t.Fatalf("patching the status of %s to %s: %v", name, ip, err)
	}
	if got := e.getIP(name); got != ip {
		e.t.Fatalf("the status of %s is %q after patching it to %s", name, got, ip)
	}
}

// expectEventWithin is expectEvent with a timeout and a step name.
func (e *env) expectEventWithin(timeout time.Duration, step, name, reason string, texts ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := controlplane.WaitForServiceEvent(ctx, e.c, e.ns, name, reason, texts...); err != nil {
		e.t.Errorf("%s: %v", step, err)
	}
}

// expectEntryStays checks that the ConfigMap maps ip to value, as the provider's, now and for d.
func (e *env) expectEntryStays(step, ip, value string, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		cm := e.configMap()
		if cm == nil || cm.Data[ip] != value {
			var data map[string]string
			if cm != nil {
				data = cm.Data
			}
			e.t.Errorf("%s: entry %s is not %q: ConfigMap data %v", step, ip, value, data)
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectNotShown checks that no other live Service's status shows ip, the address name got.
func (e *env) expectNotShown(step, name, ip string) {
	e.t.Helper()
	list, err := e.c.CoreV1().Services(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("%s: listing Services: %v", step, err)
	}
	for i := range list.Items {
		s := &list.Items[i]
		if s.Name != name && s.DeletionTimestamp == nil && controlplane.IngressIP(s) == ip {
			e.t.Errorf("%s: %s got %s, which %s's status shows: a duplicate address", step, name, ip, s.Name)
		}
	}
}

// waitEntryStep is waitEntry naming the step on failure.
func (e *env) waitEntryStep(step, ip, value string) {
	e.t.Helper()
	var seen string
	if !pollFor(assignTimeout, func(context.Context) bool {
		cm := e.configMap()
		if cm == nil {
			seen = "no ConfigMap"
			return false
		}
		seen = fmt.Sprintf("data %v, owned %v", cm.Data, ownedKeys(cm))
		v, ok := cm.Data[ip]
		return ok && v == value && slices.Contains(ownedKeys(cm), ip)
	}) {
		e.t.Fatalf("%s: no entry %q: %q owned by the provider after %s; ConfigMap %s", step, ip, value, assignTimeout, seen)
	}
}

// waitEnsuredAgain waits until the service controller has ensured the Service once more
// than before (its EnsuredLoadBalancer event counts up).
func (e *env) waitEnsuredAgain(step, name string) {
	e.t.Helper()
	count := func() int32 {
		evs, _ := eventsOf(e, name)
		var n int32
		for _, ev := range evs {
			if ev.Reason == "EnsuredLoadBalancer" {
				n += max(ev.Count, 1)
			}
		}
		return n
	}
	before := count()
	if before == 0 {
		e.t.Fatalf("%s: no EnsuredLoadBalancer event about %s yet", step, name)
	}
	if !pollFor(assignTimeout, func(context.Context) bool { return count() > before }) {
		evs, _ := eventsOf(e, name)
		e.t.Fatalf("%s: the service controller did not ensure %s again within %s; its events: %v", step, name, assignTimeout, describeEvents(evs))
	}
}

func describeEvents(evs []corev1.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s x%d: %s", ev.Reason, ev.Count, ev.Message))
	}
	return out
}
