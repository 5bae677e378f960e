// Package ipam hands out LoadBalancer addresses from operator pools.
//
// It is pure address maths on net/netip with no Kubernetes dependency. Pools
// may span millions of addresses, IPv6 ones far more, so nothing here ever
// enumerates a range: the time and memory of every operation follow the
// number of addresses in use, never the size of a pool.
//
// The package-level parsers and constructors accept IPv4 only, as
// kube-keepalived-vip publishes it; those of DualStack accept IPv6 as well
// (see Stack). A pool may hold ranges of both families; Allocate hands out
// its IPv4 addresses and AllocateFamily either family's.
package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Allocator knows which addresses of its pools are taken and hands out the
// lowest free one. It records no holders: who holds what is the caller's
// business (the ledger), so that one place alone answers it.
//
// It is not safe for concurrent use: callers serialise access.
type Allocator struct {
	pools  []*pool
	byName map[string]*pool
	spans  []*span // every pool's IPv4 spans, in address order
	v6     *dual   // the IPv6 side; nil for an IPv4Only allocator
}

// NewAllocator makes an IPv4Only allocator over pools, which must have
// distinct names and must not overlap. Allocate("") uses the first pool.
func NewAllocator(pools ...Pool) (*Allocator, error) {
	return IPv4Only.NewAllocator(pools...)
}

// NewAllocator makes an allocator over pools, which must have distinct names
// and must not overlap, with ranges of the families s accepts. An IPv4Only
// allocator refuses IPv6 ranges and addresses with ErrNotIPv4.
func (s Stack) NewAllocator(pools ...Pool) (*Allocator, error) {
	if err := s.validatePools(pools); err != nil {
		return nil, err
	}
	a := &Allocator{byName: map[string]*pool{}}
	if s == DualStack {
		a.v6 = &dual{of: map[*pool]*pool6{}}
	}
	for _, p := range pools {
		np := newPool(p)
		a.pools = append(a.pools, np)
		a.byName[p.Name] = np
		a.spans = append(a.spans, np.spans...)
		if a.v6 != nil {
			a.v6.add(np)
		}
	}
	slices.SortFunc(a.spans, func(x, y *span) int { return cmp.Compare(x.first, y.first) })
	if a.v6 != nil {
		slices.SortFunc(a.v6.spans, func(x, y *span6) int { return x.first.cmp(y.first) })
	}
	return a, nil
}

// Take marks ip taken. An address no pool hands out (outside every pool, or a
// .0 or .255 a pool avoids) has no slot: taking it is allowed and changes
// nothing here. Taking a taken slot gives ErrInUse. An IPv4Only allocator
// refuses IPv6 (ErrNotIPv4); a DualStack one refuses what Stack.Check does.
func (a *Allocator) Take(ip netip.Addr) error {
	if !ip.Is4() {
		return a.take6(ip)
	}
	s, slot, ok := a.slotOf(u32(ip))
	if !ok {
		return nil
	}
	if s.used.has(slot) {
		return fmt.Errorf("%w: %s", ErrInUse, ip)
	}
	s.take(slot)
	return nil
}

// Allocate takes the lowest free IPv4 address of the named pool ("" is the
// first pool), or gives an error wrapping ErrExhausted or ErrUnknownPool. A
// pool with no IPv4 range is exhausted.
func (a *Allocator) Allocate(pool string) (netip.Addr, error) {
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
		return addr(p.slots.addr(slot)), nil
	}
	return netip.Addr{}, p.exhausted()
}

// exhausted is the error of Allocate on a pool with no free IPv4 slot.
func (p *pool) exhausted() error {
	v4 := rangesOf(p.Ranges, IPv4)
	if len(v4) == 0 {
		return fmt.Errorf("%w: the pool has no IPv4 range, only %s", ErrExhausted, FormatRanges(p.Ranges))
	}
	return fmt.Errorf("%w in %s (%d of %d in use)", ErrExhausted, FormatRanges(v4), p.inUse, p.size)
}

// AllocateFamily takes the lowest free address of family f in the named pool
// ("" is the first pool), as Allocate does for IPv4. An IPv4Only allocator
// refuses IPv6 with ErrIPv6.
func (a *Allocator) AllocateFamily(pool string, f Family) (netip.Addr, error) {
	switch f {
	case IPv4:
		return a.Allocate(pool)
	case IPv6:
		return a.allocate6(pool)
	}
	return netip.Addr{}, fmt.Errorf("no address family %s: want IPv4 or IPv6", f)
}

// Free gives ip back; freeing a free address, or one without a slot, changes nothing.
func (a *Allocator) Free(ip netip.Addr) {
	if !ip.Is4() {
		a.free6(ip)
		return
	}
	if s, slot, ok := a.slotOf(u32(ip)); ok && s.used.has(slot) {
		s.free(slot)
	}
}

// PoolOf names the pool whose ranges contain ip.
func (a *Allocator) PoolOf(ip netip.Addr) (pool string, ok bool) {
	if !ip.Is4() {
		return a.poolOf6(ip)
	}
	s := a.spanOf(u32(ip))
	if s == nil {
		return "", false
	}
	return s.pool.Name, true
}

// Usage counts each pool's addresses, in the order the pools were given,
// both families together. A pool with IPv6 ranges may hold more addresses
// than a uint64 counts: its Size saturates at math.MaxUint64, and
// FamilyUsage has the exact figures.
func (a *Allocator) Usage() []PoolUsage {
	out := make([]PoolUsage, len(a.pools))
	for i, p := range a.pools {
		out[i] = PoolUsage{Name: p.Name, Size: p.size, InUse: p.inUse}
		if p6 := a.v6.pool(p); p6 != nil {
			out[i].Size = saturatingAdd(p.size, p6.size)
			out[i].InUse += p6.inUse
		}
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

// Pool is a named set of ranges to allocate from, of either family or both.
type Pool struct {
	Name   string
	Ranges []Range
	// AvoidBuggyIPs keeps IPv4 addresses ending in .0 or .255 from being
	// handed out: some clients and middleboxes mistake them for network or
	// broadcast addresses. They may still be taken explicitly (Take). It
	// does not apply to IPv6, which has no broadcast address.
	AvoidBuggyIPs bool
}

// Has reports whether p has a range of family f.
func (p Pool) Has(f Family) bool {
	return slices.ContainsFunc(p.Ranges, func(r Range) bool { return r.Family() == f })
}

// PoolUsage counts a pool's addresses. Size is how many it can hand out and
// InUse how many of those are held; held addresses it never hands out (.0
// and .255 with AvoidBuggyIPs) count in neither. Both families count
// together; Allocator.FamilyUsage counts IPv6 pools too large for these.
type PoolUsage struct {
	Name        string
	Size, InUse uint64
}

// pool is a Pool being allocated from.
type pool struct {
	Pool
	slots       slots
	spans       []*span // in address order
	size, inUse uint64
}

// span is one range of a pool with the slots of it that are in use.
type span struct {
	pool        *pool
	first, last uint32
	lo, hi      uint64 // slots [lo, hi)
	inUse       uint64
	used        runSet
}

func newPool(p Pool) *pool {
	p.Ranges = slices.Clone(p.Ranges)
	np := &pool{Pool: p, slots: slots{avoidBuggy: p.AvoidBuggyIPs}}
	for _, r := range p.Ranges {
		if !r.First.Is4() {
			continue // the IPv6 side's (dual.add)
		}
		lo, hi := np.slots.span(r)
		np.spans = append(np.spans, &span{pool: np, first: u32(r.First), last: u32(r.Last), lo: lo, hi: hi})
		np.size += hi - lo
	}
	slices.SortFunc(np.spans, func(a, b *span) int { return cmp.Compare(a.first, b.first) })
	return np
}

func (s *span) full() bool { return s.inUse == s.hi-s.lo }

// take marks a slot of s used.
func (s *span) take(slot uint32) {
	s.used.add(slot)
	s.inUse++
	s.pool.inUse++
}

// free marks a slot of s free.
func (s *span) free(slot uint32) {
	s.used.remove(slot)
	s.inUse--
	s.pool.inUse--
}

// validatePools reports every duplicate name, empty pool, invalid range and
// overlap, naming the pool and range.
func (s Stack) validatePools(pools []Pool) error {
	var errs []error
	var ranges []Range
	var labels []string
	seen := map[string]bool{}
	for _, p := range pools {
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("pool %q is defined twice", p.Name))
		}
		seen[p.Name] = true
		if len(p.Ranges) == 0 {
			errs = append(errs, fmt.Errorf("pool %q has no addresses", p.Name))
		}
		for _, r := range p.Ranges {
			label := fmt.Sprintf("pool %q range %s", p.Name, r)
			if err := s.checkRange(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", label, err))
				continue
			}
			ranges, labels = append(ranges, r), append(labels, label)
		}
	}
	errs = append(errs, overlaps(ranges, labels)...)
	return errors.Join(errs...)
}

// Slots number the addresses a pool may hand out, in address order and with
// no gaps, so that a used set can be kept as runs of consecutive slots even
// when the pool skips every .0 and .255. Skipping by numbering, rather than by
// testing candidates, keeps "lowest free" a single lookup: a pool full but for
// its .0 and .255 addresses would otherwise cost one step per /24.
type slots struct{ avoidBuggy bool }

// before is the number of slots below address n (n may be 1<<32).
func (s slots) before(n uint64) uint64 {
	if !s.avoidBuggy {
		return n
	}
	// Each /24 holds 254 slots: .1 to .254.
	return n>>8*254 + max(n&0xff, 1) - 1
}

// of gives a's slot, or false when a is never handed out.
func (s slots) of(a uint32) (uint32, bool) {
	if s.avoidBuggy && (a&0xff == 0 || a&0xff == 0xff) {
		return 0, false
	}
	return uint32(s.before(uint64(a))), true
}

// addr is the address of slot i.
func (s slots) addr(i uint32) uint32 {
	if !s.avoidBuggy {
		return i
	}
	return i/254<<8 | (i%254 + 1)
}

// span gives the slots [lo, hi) of the addresses in r.
func (s slots) span(r Range) (lo, hi uint64) {
	return s.before(uint64(u32(r.First))), s.before(uint64(u32(r.Last)) + 1)
}

// Repool returns a new IPv4Only Allocator over pools with every address of
// taken taken: a pool edit must never move or free an address a Service
// already has. Taken addresses that fall outside every new pool have no slot
// and count nowhere; the caller keeps them held, so nobody else gets them,
// and finds them with PoolOf.
//
// Cost follows the number of taken addresses, never the size of the pools.
// If pools are invalid, Repool returns NewAllocator's error.
func Repool(taken []netip.Addr, pools ...Pool) (*Allocator, error) {
	return IPv4Only.Repool(taken, pools...)
}

// Repool is the package-level Repool for the families s accepts.
func (s Stack) Repool(taken []netip.Addr, pools ...Pool) (*Allocator, error) {
	next, err := s.NewAllocator(pools...)
	if err != nil {
		return nil, err
	}
	// In address order, consecutive addresses extend one run rather than
	// meeting as separate runs to merge.
	nums := make([]uint32, 0, len(taken))
	for _, ip := range taken {
		if ip.Is4() {
			nums = append(nums, u32(ip))
		}
	}
	slices.Sort(nums)
	for _, n := range slices.Compact(nums) {
		// An address with no slot is outside every pool, or a .0 or .255 of
		// a pool avoiding them: never handed out, so taken without counting.
		if s, slot, ok := next.slotOf(n); ok {
			s.take(slot)
		}
	}
	next.v6.retake(taken)
	return next, nil
}

// Sentinel errors; match them with errors.Is. The returned errors wrap them
// with the address or pool involved, ready to show to a user.
var (
	ErrExhausted   = errors.New("no free address")
	ErrInUse       = errors.New("address in use")
	ErrNotInPool   = errors.New("address not in pool")
	ErrUnknownPool = errors.New("unknown pool")
	ErrNotIPv4     = errors.New("not an IPv4 address")

	// ErrIPv6 explains why IPv6 is refused rather than just refusing it. It
	// is IPv4Only's refusal (Stack.Check).
	ErrIPv6 = errors.New("IPv6 is not supported: kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':')")
)

// ErrSpecial marks addresses that must never be announced as a load balancer's
// address, whoever asks for them.
var ErrSpecial = errors.New("special-purpose address")
