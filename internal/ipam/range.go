package ipam

import (
	"math/bits"
	"net/netip"
	"strings"
)

// Range is an inclusive IPv4 range [First, Last].
type Range struct{ First, Last netip.Addr }

// valid reports whether r is a usable IPv4 range.
func (r Range) valid() bool {
	return r.First.Is4() && r.Last.Is4() && r.First.Compare(r.Last) <= 0
}

// Size is the number of addresses in r; 0 for an invalid range.
func (r Range) Size() uint64 {
	if !r.valid() {
		return 0
	}
	return uint64(u32(r.Last)) - uint64(u32(r.First)) + 1
}

// Contains reports whether a lies within r.
func (r Range) Contains(a netip.Addr) bool {
	return r.valid() && a.Is4() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// String gives the CIDR whose addresses ParseRanges would turn into exactly r
// (so "10.0.0.0/29" for 10.0.0.1-10.0.0.6), else "first-last". Either way
// ParseRanges(r.String()) gives back r.
func (r Range) String() string {
	if p, ok := r.prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// prefix finds the CIDR that ParseRanges maps onto r, if there is one: a /31
// or /32 covering r exactly, or a wider prefix whose network and broadcast
// addresses sit just outside r.
func (r Range) prefix() (netip.Prefix, bool) {
	if !r.valid() {
		return netip.Prefix{}, false
	}
	first, n := uint64(u32(r.First)), r.Size()
	if n <= 2 && first%n == 0 {
		return netip.PrefixFrom(r.First, 33-bits.Len64(n)), true
	}
	block := n + 2
	if block&(block-1) != 0 || first == 0 || (first-1)%block != 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(addr(uint32(first-1)), 33-bits.Len64(block)), true
}

// FormatRanges joins the ranges' text with ", ", as used in error messages.
func FormatRanges(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// u32 is an IPv4 address as a number; callers ensure a.Is4().
func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// addr is the IPv4 address numbered n.
func addr(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
