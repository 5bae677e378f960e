package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Allocator records which holder (an opaque string such as "namespace/name")
// holds which address, and hands out the lowest free address of a pool.
//
// It is not safe for concurrent use: callers serialise access.
type Allocator struct {
	pools   []*pool
	byName  map[string]*pool
	spans   []*span           // every pool's spans, in address order
	holders map[uint32]string // every held address, in a pool or not
}

// NewAllocator makes an allocator over pools, which must have distinct names
// and must not overlap. Allocate("") uses the first pool.
func NewAllocator(pools ...Pool) (*Allocator, error) {
	if err := validatePools(pools); err != nil {
		return nil, err
	}
	a := &Allocator{byName: map[string]*pool{}, holders: map[uint32]string{}}
	for _, p := range pools {
		np := newPool(p)
		a.pools = append(a.pools, np)
		a.byName[p.Name] = np
		a.spans = append(a.spans, np.spans...)
	}
	slices.SortFunc(a.spans, func(x, y *span) int { return cmp.Compare(x.first, y.first) })
	return a, nil
}

// Reserve records that holder holds ip, which may lie outside every pool:
// operators may ask for any address. Reserving again for the same holder is
// a no-op; an address held by another holder gives an *InUseError.
func (a *Allocator) Reserve(ip netip.Addr, holder string) error {
	if err := checkArgs(ip, holder); err != nil {
		return fmt.Errorf("cannot reserve: %w", err)
	}
	n := u32(ip)
	if other, ok := a.holders[n]; ok {
		if other == holder {
			return nil
		}
		return &InUseError{Addr: ip, Holder: other}
	}
	a.holders[n] = holder
	if s, slot, ok := a.slotOf(n); ok {
		s.take(slot)
	}
	return nil
}

// Allocate gives holder the lowest free address of the named pool ("" is the
// first pool), or an error wrapping ErrExhausted or ErrUnknownPool.
func (a *Allocator) Allocate(pool, holder string) (netip.Addr, error) {
	if holder == "" {
		return netip.Addr{}, errors.New("cannot allocate: empty holder")
	}
	p, err := a.pool(pool)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, s := range p.spans {
		if s.full() {
			continue
		}
		// Runs stay inside the span, so a span with room has a free slot
		// right after the run holding lo, if any.
		slot := uint32(s.used.nextFree(uint32(s.lo)))
		s.take(slot)
		n := p.slots.addr(slot)
		a.holders[n] = holder
		return addr(n), nil
	}
	return netip.Addr{}, fmt.Errorf("%w in %s (%d of %d in use)", ErrExhausted, FormatRanges(p.Ranges), p.inUse, p.size)
}

// Release frees ip if holder holds it and reports whether it did; releasing
// an address held by someone else, or by no one, changes nothing.
func (a *Allocator) Release(ip netip.Addr, holder string) bool {
	if !ip.Is4() {
		return false
	}
	n := u32(ip)
	if h, ok := a.holders[n]; !ok || h != holder {
		return false
	}
	delete(a.holders, n)
	if s, slot, ok := a.slotOf(n); ok {
		s.free(slot)
	}
	return true
}

// Holder says who holds ip.
func (a *Allocator) Holder(ip netip.Addr) (holder string, ok bool) {
	if !ip.Is4() {
		return "", false
	}
	holder, ok = a.holders[u32(ip)]
	return holder, ok
}

// PoolOf names the pool whose ranges contain ip.
func (a *Allocator) PoolOf(ip netip.Addr) (pool string, ok bool) {
	if !ip.Is4() {
		return "", false
	}
	s := a.spanOf(u32(ip))
	if s == nil {
		return "", false
	}
	return s.pool.Name, true
}

// Usage counts each pool's addresses, in the order the pools were given.
func (a *Allocator) Usage() []PoolUsage {
	out := make([]PoolUsage, len(a.pools))
	for i, p := range a.pools {
		out[i] = PoolUsage{Name: p.Name, Size: p.size, InUse: p.inUse}
	}
	return out
}

func (a *Allocator) pool(name string) (*pool, error) {
	if name == "" {
		if len(a.pools) == 0 {
			return nil, fmt.Errorf("%w: no pools are configured", ErrUnknownPool)
		}
		return a.pools[0], nil
	}
	p, ok := a.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPool, name)
	}
	return p, nil
}

// spanOf is the span containing address n, or nil.
func (a *Allocator) spanOf(n uint32) *span {
	i, found := slices.BinarySearchFunc(a.spans, n, func(s *span, n uint32) int { return cmp.Compare(s.first, n) })
	if !found {
		i-- // the span starting before n
	}
	if i < 0 || a.spans[i].last < n {
		return nil
	}
	return a.spans[i]
}

// slotOf finds the span and slot of address n, if a pool can hand it out.
func (a *Allocator) slotOf(n uint32) (*span, uint32, bool) {
	s := a.spanOf(n)
	if s == nil {
		return nil, 0, false
	}
	slot, ok := s.pool.slots.of(n)
	return s, slot, ok
}

func checkArgs(ip netip.Addr, holder string) error {
	if !ip.Is4() {
		return fmt.Errorf("%w: %s", ErrNotIPv4, ip)
	}
	if holder == "" {
		return errors.New("empty holder")
	}
	return nil
}
