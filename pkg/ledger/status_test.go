package ledger

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// TestFollowStatus: the address in a Service's status is the truth, and the
// ledger follows it on every path, not only at rebuild.
func TestFollowStatus(t *testing.T) {
	x, y := uidOf("a/x"), uidOf("b/y")
	runCases(t, []ledgerCase{{
		name:    "a status on a free address is taken and published",
		steps:   []step{observes(svc("a/x", status("10.0.0.4"))), ensures(svc("b/y"), "10.0.0.1")},
		view:    map[string]string{"10.0.0.4": "a/x", "10.0.0.1": "b/y"},
		holding: map[types.UID]string{x: "10.0.0.4"},
	}, {
		name:    "a status on a free address is taken by Ensure",
		steps:   []step{ensures(svc("a/x", status("10.0.0.4")), "10.0.0.4")},
		view:    map[string]string{"10.0.0.4": "a/x"},
		holding: map[types.UID]string{x: "10.0.0.4"},
	}, {
		name:    "a status outside every pool is taken too",
		steps:   []step{observes(svc("a/x", status("192.0.2.1"))), ensures(svc("a/x", status("192.0.2.1")), "192.0.2.1")},
		view:    map[string]string{"192.0.2.1": "a/x"},
		holding: map[types.UID]string{x: "192.0.2.1"},
	}, {
		name:     "two statuses on one address: conflict on both, the holder keeps it",
		services: []Service{svc("a/x", status("10.0.0.4"))},
		steps: []step{
			observes(svc("b/y", status("10.0.0.4"))),
			observes(svc("b/y", status("10.0.0.4"))), // reported once per address
			ensures(svc("b/y", status("10.0.0.4")), "10.0.0.1"),
			ensures(svc("a/x", status("10.0.0.4")), "10.0.0.4"),
		},
		view:    map[string]string{"10.0.0.4": "a/x", "10.0.0.1": "b/y"},
		holding: map[types.UID]string{x: "10.0.0.4", y: "10.0.0.1"},
		events:  []string{conflict(x, "10.0.0.4"), conflict(y, "10.0.0.4")},
	}, {
		name: "a holder whose status does not show the address loses it to the status",
		steps: []step{
			ensures(svc("a/x"), "10.0.0.1"), // its status patch has not landed yet
			observes(svc("b/y", status("10.0.0.1"))),
			ensures(svc("a/x"), "10.0.0.2"),
		},
		view:    map[string]string{"10.0.0.1": "b/y", "10.0.0.2": "a/x"},
		holding: map[types.UID]string{x: "10.0.0.2", y: "10.0.0.1"},
		events:  []string{conflict(x, "10.0.0.1"), conflict(y, "10.0.0.1")},
	}, {
		name:     "the loser of a conflict falls back on the address its own status shows",
		services: []Service{svc("a/x", status("10.0.0.1"))},
		steps: []step{
			ensures(svc("a/x", status("10.0.0.1"), asks("10.0.0.5")), "10.0.0.5"),
			observes(svc("b/y", status("10.0.0.5"))),
			ensures(svc("c/z"), "10.0.0.2"), // never 10.0.0.1, which a/x's status shows
		},
		view:    map[string]string{"10.0.0.1": "a/x", "10.0.0.5": "b/y", "10.0.0.2": "c/z"},
		holding: map[types.UID]string{x: "10.0.0.1", y: "10.0.0.5"},
		events:  []string{conflict(x, "10.0.0.5"), conflict(y, "10.0.0.5")},
	}, {
		name:     "a status lagging behind a request change is not followed",
		services: []Service{svc("a/x", status("10.0.0.1"))},
		steps: []step{
			ensures(svc("a/x", status("10.0.0.1"), asks("10.0.0.5")), "10.0.0.5"),
			observes(svc("a/x", status("10.0.0.1"), asks("10.0.0.5"))),
			ensures(svc("a/x", status("10.0.0.1"), asks("10.0.0.5")), "10.0.0.5"),
		},
		view:    map[string]string{"10.0.0.5": "a/x"},
		holding: map[types.UID]string{x: "10.0.0.5"},
	}, {
		name:     "a status edited after it caught up is followed",
		services: []Service{svc("a/x", status("10.0.0.1"))},
		steps: []step{
			ensures(svc("a/x", status("10.0.0.1"), asks("10.0.0.5")), "10.0.0.5"),
			observes(svc("a/x", status("10.0.0.5"), asks("10.0.0.5"))),
			observes(svc("a/x", status("10.0.0.3"), asks("10.0.0.5"))),
			ensures(svc("b/y"), "10.0.0.1"),
		},
		view:    map[string]string{"10.0.0.3": "a/x", "10.0.0.1": "b/y"},
		holding: map[types.UID]string{x: "10.0.0.3"},
	}, {
		name:    "a status on a foreign key's address is held, reported and not published",
		steps:   []step{foreignKeys(map[string]string{"10.0.0.4": ""}), observes(svc("a/x", status("10.0.0.4")))},
		holding: map[types.UID]string{x: "10.0.0.4"},
		events:  []string{event(Clash, x, "10.0.0.4")},
	}, {
		name:     "the conflict winner stays the winner when a standby rebuilds",
		services: []Service{svc("b/y", status("10.0.0.4"))},
		steps: []step{
			observes(svc("a/x", status("10.0.0.4"))),
			rebuilds(svc("a/x", status("10.0.0.4")), svc("b/y", status("10.0.0.4"))),
		},
		view:    map[string]string{"10.0.0.4": "b/y"},
		holding: map[types.UID]string{x: "", y: "10.0.0.4"},
		// reported again by the rebuilt ledger
		events: []string{conflict(x, "10.0.0.4"), conflict(y, "10.0.0.4"), conflict(x, "10.0.0.4"), conflict(y, "10.0.0.4")},
	}})
}

// TestNoThirdServiceWhileStatusShows: an address that any live status shows is
// never handed to a third Service; when its holder gives it up it goes to the
// Service whose status shows it.
func TestNoThirdServiceWhileStatusShows(t *testing.T) {
	x, y := uidOf("a/x"), uidOf("a/y")
	both := []Service{svc("a/x", status("10.0.0.1")), svc("a/y", status("10.0.0.1"))}
	conflicts := []string{conflict(x, "10.0.0.1"), conflict(y, "10.0.0.1")}
	runCases(t, []ledgerCase{{
		name:     "the winner is released",
		services: both,
		steps:    []step{releases(x), ensures(svc("b/new"), "10.0.0.2")},
		view:     map[string]string{"10.0.0.1": "a/y", "10.0.0.2": "b/new"},
		holding:  map[types.UID]string{x: "", y: "10.0.0.1"},
		events:   conflicts,
	}, {
		name:     "the winner is deleted without a release",
		services: both,
		steps:    []step{gone(x), ensures(svc("b/new"), "10.0.0.2")},
		view:     map[string]string{"10.0.0.1": "a/y", "10.0.0.2": "b/new"},
		holding:  map[types.UID]string{y: "10.0.0.1"},
		events:   append([]string{event(Orphan, x, "10.0.0.1")}, conflicts...),
	}, {
		name:     "the winner moves to the address it asks for",
		services: both,
		steps:    []step{ensures(svc("a/x", status("10.0.0.1"), asks("10.0.0.3")), "10.0.0.3"), ensures(svc("b/new"), "10.0.0.2")},
		view:     map[string]string{"10.0.0.3": "a/x", "10.0.0.1": "a/y", "10.0.0.2": "b/new"},
		holding:  map[types.UID]string{x: "10.0.0.3", y: "10.0.0.1"},
		events:   conflicts,
	}, {
		name:     "the conflict was seen between syncs",
		services: both[:1],
		steps:    []step{observes(both[1]), releases(x), ensures(svc("b/new"), "10.0.0.2")},
		view:     map[string]string{"10.0.0.1": "a/y", "10.0.0.2": "b/new"},
		holding:  map[types.UID]string{y: "10.0.0.1"},
		events:   conflicts,
	}, {
		name:     "the other status-shower gives up its own confirmed address",
		services: []Service{svc("a/x", status("10.0.0.1")), svc("a/y", status("10.0.0.2"))},
		steps:    []step{observes(both[1]), releases(x), ensures(svc("b/new"), "10.0.0.2")},
		view:     map[string]string{"10.0.0.1": "a/y", "10.0.0.2": "b/new"},
		holding:  map[types.UID]string{y: "10.0.0.1"},
		events:   conflicts,
	}, {
		name:     "a waiting request of the namespace does not jump the status",
		services: both,
		steps: []step{
			refuses(svc("a/req", asks("10.0.0.1")), ReasonInUse, ipam.ErrInUse),
			releases(x),
			refuses(svc("a/req", asks("10.0.0.1")), ReasonInUse, ipam.ErrInUse),
		},
		view:    map[string]string{"10.0.0.1": "a/y"},
		holding: map[types.UID]string{y: "10.0.0.1"},
		events:  conflicts,
	}})
}
