package ipam

import (
	"cmp"
	"net/netip"
	"slices"
)

// Subtract returns the parts of rs that lie outside every range of minus, in
// the order of rs; a range split by minus yields its pieces in address
// order. Reserved addresses are carved out of pools this way, so that a
// reservation costs nothing per address. Invalid ranges are dropped.
func Subtract(rs, minus []Range) []Range {
	holes := mergeRanges(minus)
	var out []Range
	for _, r := range rs {
		if !r.valid() {
			continue
		}
		out = append(out, cut(r, holes)...)
	}
	return out
}

// cut removes sorted, disjoint holes from r.
func cut(r Range, holes []Range) []Range {
	var out []Range
	next, last := uint64(u32(r.First)), uint64(u32(r.Last))
	// Skip the holes ending before r.
	i, _ := slices.BinarySearchFunc(holes, r.First, func(h Range, a netip.Addr) int { return h.Last.Compare(a) })
	for _, h := range holes[i:] {
		start := uint64(u32(h.First))
		if start > last {
			break
		}
		if start > next {
			out = append(out, Range{addr(uint32(next)), addr(uint32(start - 1))})
		}
		next = max(next, uint64(u32(h.Last))+1)
	}
	if next <= last {
		out = append(out, Range{addr(uint32(next)), addr(uint32(last))})
	}
	return out
}

// mergeRanges sorts the valid ranges of rs and joins those that overlap or
// touch.
func mergeRanges(rs []Range) []Range {
	var out []Range
	for _, r := range rs {
		if r.valid() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Range) int { return cmp.Compare(u32(a.First), u32(b.First)) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(u32(r.First)) <= uint64(u32(merged[n-1].Last))+1 {
			if r.Last.Compare(merged[n-1].Last) > 0 {
				merged[n-1].Last = r.Last
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}
