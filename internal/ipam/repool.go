package ipam

import (
	"maps"
	"net/netip"
	"slices"
)

// Repool returns a new Allocator over pools that holds everything a holds:
// every address stays with its holder whatever pool it now falls in (or
// none), because a pool edit must never move or free an address a Service
// already has. It reports, for messages and metrics, which held addresses
// fall outside every new pool; they stay held, so nobody else is given them.
//
// Cost follows the number of held addresses, never the size of the pools. If
// pools are invalid, Repool returns NewAllocator's error and a is untouched,
// so the caller can keep using the old pools.
func (a *Allocator) Repool(pools ...Pool) (next *Allocator, outside []netip.Addr, err error) {
	next, err = NewAllocator(pools...)
	if err != nil {
		return nil, nil, err
	}
	next.holders = maps.Clone(a.holders)
	// In address order, consecutive holdings extend one run rather than
	// meeting as separate runs to merge, and outside comes out sorted.
	for _, n := range slices.Sorted(maps.Keys(next.holders)) {
		switch s, slot, ok := next.slotOf(n); {
		case ok:
			s.take(slot)
		case s == nil:
			outside = append(outside, addr(n))
		}
		// Otherwise n is a .0 or .255 of a pool avoiding them: inside the
		// pool but never handed out, so held without counting as in use.
	}
	return next, outside, nil
}

// Holdings yields every held address with its holder, in no set order. Use
// it as an iterator: for ip, holder := range a.Holdings { ... }.
func (a *Allocator) Holdings(yield func(netip.Addr, string) bool) {
	for n, h := range a.holders {
		if !yield(addr(n), h) {
			return
		}
	}
}
