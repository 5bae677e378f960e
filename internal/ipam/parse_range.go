package ipam

import (
	"net/netip"
	"strings"
)

// ParseRange parses one item of a ParseRanges list: an IPv4 CIDR, a
// "first-last" range or a single address. Its errors do not name the item,
// so that callers reading items from elsewhere (a YAML list) can label them
// their own way; warning is set when a CIDR had host bits set.
func ParseRange(item string) (r Range, warning string, err error) {
	return parseItem(strings.TrimSpace(item))
}

// PrefixRange is every address of the IPv4 prefix p, network and broadcast
// included: what an operator means by a CIDR of addresses to keep away from
// Services, unlike a pool's CIDR, whose first and last are not handed out.
// p must be IPv4; its host bits are ignored.
func PrefixRange(p netip.Prefix) Range {
	p = p.Masked()
	first := u32(p.Addr())
	return Range{p.Addr(), addr(first | uint32(uint64(1)<<(32-p.Bits())-1))}
}
