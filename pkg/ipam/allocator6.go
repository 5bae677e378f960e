package ipam

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
)

// dual is the IPv6 side of a DualStack allocator. It keeps its own spans and
// counts beside the IPv4 ones, so that an IPv4 pool costs what it cost before
// IPv6 came, and IPv6 addresses are numbered as they are: no pool skips any
// of them, so an address is its own slot.
type dual struct {
	of    map[*pool]*pool6 // the pools with IPv6 ranges
	spans []*span6         // every pool's IPv6 spans, in address order
}

// pool6 is the IPv6 part of a pool.
type pool6 struct {
	name   string
	ranges []Range  // its IPv6 ranges, as given
	spans  []*span6 // in address order
	size   *big.Int // exact: a /48 holds 2^80 addresses
	inUse  uint64
}

// span6 is one IPv6 range of a pool with the addresses of it that are in use.
type span6 struct {
	pool        *pool6
	first, last u128
	width       u128 // last - first: the span holds width+1 addresses
	inUse       uint64
	used        runSet6
}

// add records the IPv6 ranges of np, if it has any.
func (d *dual) add(np *pool) {
	var p6 *pool6
	for _, r := range np.Ranges {
		if !r.First.Is6() {
			continue
		}
		if p6 == nil {
			p6 = &pool6{name: np.Name, size: new(big.Int)}
			d.of[np] = p6
		}
		first, last := u128Of(r.First), u128Of(r.Last)
		s := &span6{pool: p6, first: first, last: last, width: last.sub(first)}
		p6.ranges = append(p6.ranges, r)
		p6.spans = append(p6.spans, s)
		p6.size.Add(p6.size, count6(s.width))
	}
	if p6 != nil {
		slices.SortFunc(p6.spans, func(a, b *span6) int { return a.first.cmp(b.first) })
		d.spans = append(d.spans, p6.spans...)
	}
}

// pool is the IPv6 part of p, or nil when p has none or d is nil.
func (d *dual) pool(p *pool) *pool6 {
	if d == nil {
		return nil
	}
	return d.of[p]
}

// spanOf is the IPv6 span containing x, or nil.
func (d *dual) spanOf(x u128) *span6 {
	i, found := slices.BinarySearchFunc(d.spans, x, func(s *span6, x u128) int { return s.first.cmp(x) })
	if !found {
		i-- // the span starting before x
	}
	if i < 0 || d.spans[i].last.less(x) {
		return nil
	}
	return d.spans[i]
}

// retake takes every IPv6 address of taken that lies in a span, each once,
// in address order so that neighbours extend one run. Nothing for a nil d.
func (d *dual) retake(taken []netip.Addr) {
	if d == nil {
		return
	}
	n := 0
	for _, ip := range taken {
		if plain6(ip) {
			n++
		}
	}
	xs := make([]u128, 0, n)
	for _, ip := range taken {
		if plain6(ip) {
			xs = append(xs, u128Of(ip))
		}
	}
	slices.SortFunc(xs, u128.cmp)
	for _, x := range slices.Compact(xs) {
		if s := d.spanOf(x); s != nil {
			s.take(x)
		}
	}
}

func (s *span6) full() bool {
	return s.inUse > 0 && s.width.hi == 0 && s.width.lo == s.inUse-1
}

func (s *span6) take(x u128) {
	s.used.add(x)
	s.inUse++
	s.pool.inUse++
}

func (s *span6) free(x u128) {
	s.used.remove(x)
	s.inUse--
	s.pool.inUse--
}

func (a *Allocator) allocate6(pool string) (netip.Addr, error) {
	p, err := a.pool(pool)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.v6 == nil {
		return netip.Addr{}, fmt.Errorf("cannot allocate from pool %q: %w", p.Name, ErrIPv6)
	}
	p6 := a.v6.pool(p)
	if p6 == nil {
		return netip.Addr{}, fmt.Errorf("%w: the pool has no IPv6 range, only %s", ErrExhausted, FormatRanges(p.Ranges))
	}
	for _, s := range p6.spans {
		if s.full() {
			continue
		}
		// Runs stay inside the span, so a span with room has a free address
		// right after the run holding its first, if any.
		x, _ := s.used.nextFree(s.first)
		s.take(x)
		return x.addr6(), nil
	}
	return netip.Addr{}, fmt.Errorf("%w in %s (%d of %s in use)", ErrExhausted, FormatRanges(p6.ranges), p6.inUse, p6.size)
}

// take6 is Take for anything but IPv4.
func (a *Allocator) take6(ip netip.Addr) error {
	if a.v6 == nil {
		return fmt.Errorf("cannot take %s: %w", ip, ErrNotIPv4)
	}
	if err := DualStack.Check(ip); err != nil {
		return fmt.Errorf("cannot take %s: %w", ip, err)
	}
	x := u128Of(ip)
	s := a.v6.spanOf(x)
	switch {
	case s == nil:
		return nil // outside every pool: no slot
	case s.used.has(x):
		return fmt.Errorf("%w: %s", ErrInUse, ip)
	}
	s.take(x)
	return nil
}

// free6 is Free for anything but IPv4.
func (a *Allocator) free6(ip netip.Addr) {
	if a.v6 == nil || !plain6(ip) {
		return
	}
	x := u128Of(ip)
	if s := a.v6.spanOf(x); s != nil && s.used.has(x) {
		s.free(x)
	}
}

// poolOf6 is PoolOf for anything but IPv4.
func (a *Allocator) poolOf6(ip netip.Addr) (string, bool) {
	if a.v6 == nil || !plain6(ip) {
		return "", false
	}
	s := a.v6.spanOf(u128Of(ip))
	if s == nil {
		return "", false
	}
	return s.pool.name, true
}

// FamilyUsage counts the addresses of one family in a pool. Size is how many
// it can hand out, exactly (an IPv6 pool may hold more than 2^64), and InUse
// how many of those are held, as in PoolUsage.
type FamilyUsage struct {
	Name   string
	Family Family
	Size   *big.Int
	InUse  uint64
}

// FamilyUsage counts each pool's addresses per family: in the order the
// pools were given, IPv4 before IPv6, with an entry for each family a pool
// has a range of. The Sizes are the caller's to keep.
func (a *Allocator) FamilyUsage() []FamilyUsage {
	var out []FamilyUsage
	for _, p := range a.pools {
		if len(p.spans) > 0 {
			out = append(out, FamilyUsage{p.Name, IPv4, new(big.Int).SetUint64(p.size), p.inUse})
		}
		if p6 := a.v6.pool(p); p6 != nil {
			out = append(out, FamilyUsage{p.Name, IPv6, new(big.Int).Set(p6.size), p6.inUse})
		}
	}
	return out
}

// saturatingAdd is n+m, or math.MaxUint64 when that does not fit.
func saturatingAdd(n uint64, m *big.Int) uint64 {
	if !m.IsUint64() || m.Uint64() > math.MaxUint64-n {
		return math.MaxUint64
	}
	return n + m.Uint64()
}

// rangesOf is the ranges of rs in family f.
func rangesOf(rs []Range, f Family) []Range {
	var out []Range
	for _, r := range rs {
		if r.Family() == f {
			out = append(out, r)
		}
	}
	return out
}

// mapped is the IPv4-mapped block: IPv4 addresses written as IPv6. The IPv6
// maths never hands one out, since it would be an IPv4 address in disguise.
var mapped = PrefixRange(netip.MustParsePrefix("::ffff:0:0/96"))

// checkRange refuses a pool range the stack cannot allocate from.
func (s Stack) checkRange(r Range) error {
	switch {
	case s != DualStack && (!r.valid() || !r.First.Is4()):
		return fmt.Errorf("%w: want an IPv4 range with First <= Last", ErrNotIPv4)
	case !r.valid():
		return errors.New("want an IPv4 or IPv6 range with First <= Last, both ends of one family, without a zone and not IPv4-mapped")
	case overlap(r, mapped):
		return fmt.Errorf("%w: it overlaps the IPv4-mapped block ::ffff:0:0/96, whose addresses are IPv4 ones", ErrSpecial)
	}
	return nil
}
