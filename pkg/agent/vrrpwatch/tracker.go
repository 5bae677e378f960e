package vrrpwatch

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

const reasonNotPeer = "not one of our peers"

// Speaker is a foreign router seen on one of our VRIDs.
type Speaker struct {
	VRID   int
	Source netip.Addr
	Addrs  []netip.Addr // what its last advert carried
	Reason string       // why it is foreign, for people
}

type speakerKey struct {
	vrid   int
	source netip.Addr
}

type heard struct {
	Speaker
	last time.Time
}

// Tracker decides which adverts are foreign and remembers foreign speakers until they
// fall silent. It is safe for concurrent use.
type Tracker struct {
	first, last int
	hold        time.Duration

	mu       sync.Mutex
	speakers map[speakerKey]*heard
}

// NewTracker watches VRIDs first..last inclusive; a speaker not heard for hold is
// forgotten.
func NewTracker(first, last int, hold time.Duration) *Tracker {
	return &Tracker{first: first, last: last, hold: hold, speakers: map[speakerKey]*heard{}}
}

// Observe classifies a, seen at now. An advert outside the watched VRIDs is ignored. It
// is foreign when isPeer(a.Source) is false or when isOurs is false for any address it
// carries; a nil isPeer (peers unknown) or isOurs skips that rule. Observe returns the
// Speaker when its (VRID, Source) pair is newly foreign or its reason changed, so that
// the caller logs once per change, else nil. An advert that is not foreign changes
// nothing: a pair that was foreign stays until it expires.
func (t *Tracker) Observe(a Advert, isPeer, isOurs func(netip.Addr) bool, now time.Time) *Speaker {
	if a.VRID < t.first || a.VRID > t.last {
		return nil
	}
	reason := foreignReason(a, isPeer, isOurs)
	if reason == "" {
		return nil
	}
	k := speakerKey{a.VRID, a.Source}
	t.mu.Lock()
	defer t.mu.Unlock()
	h, known := t.speakers[k]
	if !known {
		h = &heard{Speaker: Speaker{VRID: a.VRID, Source: a.Source}}
		t.speakers[k] = h
	}
	changed := !known || h.Reason != reason
	h.Addrs, h.Reason, h.last = slices.Clone(a.Addrs), reason, now
	if !changed {
		return nil
	}
	s := h.copy()
	return &s
}

// foreignReason says why a is foreign, or "" when it is not.
func foreignReason(a Advert, isPeer, isOurs func(netip.Addr) bool) string {
	var reasons []string
	if isPeer != nil && !isPeer(a.Source) {
		reasons = append(reasons, reasonNotPeer)
	}
	var theirs []string
	for _, addr := range a.Addrs {
		if isOurs != nil && !isOurs(addr) {
			theirs = append(theirs, addr.String())
		}
	}
	if len(theirs) > 0 {
		reasons = append(reasons, fmt.Sprintf("carries addresses that are not ours: %s", strings.Join(theirs, ", ")))
	}
	return strings.Join(reasons, "; ")
}

// Expire forgets the speakers not heard within hold before now and returns them.
func (t *Tracker) Expire(now time.Time) []Speaker {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []Speaker
	for k, h := range t.speakers {
		if now.Sub(h.last) > t.hold {
			gone = append(gone, h.copy())
			delete(t.speakers, k)
		}
	}
	sortSpeakers(gone)
	return gone
}

// Active lists the remembered foreign speakers.
func (t *Tracker) Active() []Speaker {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := make([]Speaker, 0, len(t.speakers))
	for _, h := range t.speakers {
		active = append(active, h.copy())
	}
	sortSpeakers(active)
	return active
}

// copy detaches the Speaker from the tracker's state.
func (h *heard) copy() Speaker {
	s := h.Speaker
	s.Addrs = slices.Clone(s.Addrs)
	return s
}

// sortSpeakers orders by VRID, then source address.
func sortSpeakers(s []Speaker) {
	slices.SortFunc(s, func(a, b Speaker) int {
		return cmp.Or(cmp.Compare(a.VRID, b.VRID), a.Source.Compare(b.Source))
	})
}
