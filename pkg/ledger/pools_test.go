package ledger

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestPoolsInvalid: a replica that starts leading while the pools file is invalid
// keeps every address a status shows and releases on delete, but hands out nothing
// new until the file is valid again.
func TestPoolsInvalid(t *testing.T) {
	x, y, p := uidOf("a/x"), uidOf("b/y"), uidOf("a/pending")
	services := []Service{svc("a/x", status("10.0.0.3")), svc("a/pending")}
	listed := map[string]string{"10.0.0.6": "a/pending"} // crashed between publish and status patch
	kept := map[string]string{"10.0.0.3": "a/x", "10.0.0.6": "a/pending"}
	runCases(t, []ledgerCase{{
		name:     "statuses and published entries are kept",
		opts:     invalidPools,
		services: services,
		listed:   listed,
		steps:    []step{ensures(svc("a/x", status("10.0.0.3")), "10.0.0.3")},
		view:     kept,
		holding:  map[types.UID]string{x: "10.0.0.3", p: "10.0.0.6"},
	}, {
		name:     "a status is followed",
		opts:     invalidPools,
		services: services,
		listed:   listed,
		steps:    []step{observes(svc("b/y", status("10.0.0.5")))},
		view:     map[string]string{"10.0.0.3": "a/x", "10.0.0.6": "a/pending", "10.0.0.5": "b/y"},
		holding:  map[types.UID]string{y: "10.0.0.5"},
	}, {
		name:     "nothing new is handed out",
		opts:     invalidPools,
		services: services,
		listed:   listed,
		steps: []step{
			refuses(svc("b/y"), ReasonPoolsInvalid, ErrPoolsInvalid),
			refuses(svc("b/y", asks("10.0.0.4")), ReasonPoolsInvalid, ErrPoolsInvalid),
			refuses(svc("b/y", asks("192.0.2.1")), ReasonPoolsInvalid, ErrPoolsInvalid),
		},
		view:    kept,
		holding: map[types.UID]string{y: ""},
	}, {
		name:     "a release works",
		opts:     invalidPools,
		services: services,
		listed:   listed,
		steps:    []step{releases(x), gone(p)},
		holding:  map[types.UID]string{x: "", p: ""},
		events:   []string{event(Orphan, p, "10.0.0.6")},
	}, {
		name:     "valid pools resume allocation at once",
		opts:     invalidPools,
		services: services,
		listed:   listed,
		steps: []step{
			refuses(svc("b/y", asks("10.0.0.4")), ReasonPoolsInvalid),
			setPools("10.0.0.0/29"),
			ensures(svc("b/y", asks("10.0.0.4")), "10.0.0.4"),
			ensures(svc("b/z"), "10.0.0.1"),
			ensures(svc("b/w"), "10.0.0.2"),
			ensures(svc("b/v"), "10.0.0.5"),
		},
		view: map[string]string{"10.0.0.3": "a/x", "10.0.0.6": "a/pending", "10.0.0.4": "b/y",
			"10.0.0.1": "b/z", "10.0.0.2": "b/w", "10.0.0.5": "b/v"},
	}, {
		name:     "valid pools report what lies outside them",
		opts:     invalidPools,
		services: services,
		listed:   listed,
		steps:    []step{setPools("10.0.0.0/30")},
		view:     kept,
		events:   []string{event(Outside, x, "10.0.0.3"), event(Outside, p, "10.0.0.6")},
	}})
}

// TestPoolsInvalidRefusalSaysWhy: the refusal wraps the reason the file was refused.
func TestPoolsInvalidRefusalSaysWhy(t *testing.T) {
	cause := errors.New("pools.yaml: line 3: bad indentation")
	l, _ := newLedger(t, "10.0.0.0/29", func(o *Options) { o.Pools, o.PoolsErr = nil, cause }, nil, nil, nil)
	_, _, err := l.Ensure(svc("a/x"))
	if !errors.Is(err, cause) || !errors.Is(err, ErrPoolsInvalid) {
		t.Errorf("Ensure = %v; want it to wrap %v and ErrPoolsInvalid", err, cause)
	}
}
