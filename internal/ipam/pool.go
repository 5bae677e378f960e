package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Pool is a named set of ranges to allocate from.
type Pool struct {
	Name   string
	Ranges []Range
	// AvoidBuggyIPs keeps addresses ending in .0 or .255 from being handed
	// out: some clients and middleboxes mistake them for network or
	// broadcast addresses. They may still be reserved explicitly.
	AvoidBuggyIPs bool
}

// PoolUsage counts a pool's addresses. Size is how many it can hand out and
// InUse how many of those are held; held addresses it never hands out (.0
// and .255 with AvoidBuggyIPs) count in neither.
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
func validatePools(pools []Pool) error {
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
			if !r.valid() {
				errs = append(errs, fmt.Errorf("%s: %w: want an IPv4 range with First <= Last", label, ErrNotIPv4))
				continue
			}
			ranges, labels = append(ranges, r), append(labels, label)
		}
	}
	errs = append(errs, overlaps(ranges, labels)...)
	return errors.Join(errs...)
}
