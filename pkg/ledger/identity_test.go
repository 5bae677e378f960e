package ledger

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// TestIdentityByUID: a Service deleted and re-created with the same name is a new
// Service. Whatever arrives late for the old UID (its release, its delete event,
// the orphan sweep) never touches the successor's address.
func TestIdentityByUID(t *testing.T) {
	old, succ := types.UID("old"), types.UID("new")
	before := svc("a/x", uid("old"), status("10.0.0.1")) // deleted; its finalizer was removed by hand
	after := svc("a/x", uid("new"))
	both := map[string]string{"10.0.0.1": "a/x", "10.0.0.2": "a/x"}
	runCases(t, []ledgerCase{{
		name:     "the successor gets its own address while the old one still holds",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2")},
		view:     both, // one value, two addresses: both published at once
		holding:  map[types.UID]string{old: "10.0.0.1", succ: "10.0.0.2"},
	}, {
		name:     "a late delete event of the old UID",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2"), gone(old), ensures(svc("b/y"), "10.0.0.1")},
		view:     map[string]string{"10.0.0.2": "a/x", "10.0.0.1": "b/y"},
		holding:  map[types.UID]string{old: "", succ: "10.0.0.2"},
		events:   []string{event(Orphan, old, "10.0.0.1")},
	}, {
		name:     "a late release of the old UID",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2"), releases(old), gone(old)},
		view:     map[string]string{"10.0.0.2": "a/x"},
		holding:  map[types.UID]string{old: "", succ: "10.0.0.2"},
	}, {
		name:     "the orphan sweep finds the old UID only",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2"), sweeps(after), sweeps(after)},
		view:     map[string]string{"10.0.0.2": "a/x"},
		holding:  map[types.UID]string{old: "", succ: "10.0.0.2"},
		events:   []string{event(Orphan, old, "10.0.0.1")},
	}, {
		name:     "the successor's release leaves the old UID alone",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2"), releases(succ), ensures(svc("b/y"), "10.0.0.2")},
		view:     map[string]string{"10.0.0.1": "a/x", "10.0.0.2": "b/y"},
		holding:  map[types.UID]string{old: "10.0.0.1", succ: ""},
	}, {
		name:     "a late status of the old UID does not move the successor",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2"), observes(before), ensures(svc("a/x", uid("new"), status("10.0.0.2")), "10.0.0.2")},
		view:     both,
		holding:  map[types.UID]string{old: "10.0.0.1", succ: "10.0.0.2"},
	}, {
		name:     "the successor asking for the old address gets it once the old UID is gone",
		services: []Service{before},
		steps: []step{
			refuses(svc("a/x", uid("new"), asks("10.0.0.1")), ReasonInUse, ipam.ErrInUse),
			ensures(svc("b/y"), "10.0.0.2"), // the request waits, and nobody else gets it meanwhile
			gone(old),
			ensures(svc("b/z"), "10.0.0.3"),
			ensures(svc("a/x", uid("new"), asks("10.0.0.1")), "10.0.0.1"),
		},
		view:    map[string]string{"10.0.0.1": "a/x", "10.0.0.2": "b/y", "10.0.0.3": "b/z"},
		holding: map[types.UID]string{old: "", succ: "10.0.0.1"},
		events:  []string{event(Orphan, old, "10.0.0.1")},
	}, {
		name:     "a rebuild sees only the successor and keeps its address",
		services: []Service{before},
		steps:    []step{ensures(after, "10.0.0.2"), rebuilds(svc("a/x", uid("new"), status("10.0.0.2")))},
		view:     map[string]string{"10.0.0.2": "a/x"},
		holding:  map[types.UID]string{old: "", succ: "10.0.0.2"},
		events:   []string{event(Stale, "", "10.0.0.1")},
	}})
}
