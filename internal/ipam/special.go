package ipam

import (
	"fmt"
	"net/netip"
)

// special are the IPv4 blocks no node may announce for a Service: taking one
// over on the nodes' segment breaks the host itself or the segment's protocols
// (224.0.0.18 is VRRP's own group).
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (0.0.0.0/8)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback (127.0.0.0/8)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (169.254.0.0/16)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast (224.0.0.0/4)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast (240.0.0.0/4)"},
}

// CheckSpecial refuses an address of a special-purpose block, with an error
// wrapping ErrSpecial that names the block.
func CheckSpecial(a netip.Addr) error {
	for _, s := range special {
		if s.prefix.Contains(a) {
			return fmt.Errorf("%w: %s is %s", ErrSpecial, a, s.what)
		}
	}
	return nil
}

// OverlapsSpecial names the special-purpose block r overlaps, if any.
func OverlapsSpecial(r Range) error {
	for _, s := range special {
		if b := PrefixRange(s.prefix); r.First.Compare(b.Last) <= 0 && b.First.Compare(r.Last) <= 0 {
			return fmt.Errorf("%w: %s overlaps %s", ErrSpecial, r, s.what)
		}
	}
	return nil
}

// IsCIDREdge reports whether a is the network or broadcast address of a CIDR
// whose inside is one of rs: those two are dropped from a CIDR pool and must
// not come back through a request.
func IsCIDREdge(rs []Range, a netip.Addr) bool {
	n := uint64(u32(a))
	for _, r := range rs {
		first, last := uint64(u32(r.First)), uint64(u32(r.Last))
		if n+1 != first && n != last+1 {
			continue
		}
		lo, hi := first-1, last+1
		size := hi - lo + 1
		if first > 0 && size&(size-1) == 0 && lo%size == 0 {
			return true
		}
	}
	return false
}
