package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
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

// ParseRanges parses a comma-separated list of IPv4 CIDRs, "first-last"
// ranges and single addresses, such as "10.0.0.0/24, 10.0.1.10-10.0.1.20".
//
// A CIDR of /30 or wider loses its network and broadcast addresses; /31 and
// /32 keep all theirs, as do ranges. A CIDR with host bits set is read as its
// network, with a warning, since the operator likely mistyped it. IPv6 is
// refused: the consumer cannot publish it. Every bad item is reported, each
// naming the item, and ranges must not overlap.
func ParseRanges(spec string) (ranges []Range, warnings []string, err error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil, errors.New("no addresses given: want a comma-separated list of IPv4 CIDRs or first-last ranges")
	}
	var errs []error
	var labels []string
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		label := fmt.Sprintf("item %d %q", i+1, item)
		r, warning, err := parseItem(item)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			continue
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
		ranges = append(ranges, r)
		labels = append(labels, label)
	}
	errs = append(errs, overlaps(ranges, labels)...)
	if err := errors.Join(errs...); err != nil {
		return nil, warnings, err
	}
	return ranges, warnings, nil
}

// parseItem parses one list item; warning is set when it was read loosely.
func parseItem(item string) (r Range, warning string, err error) {
	switch {
	case item == "":
		return Range{}, "", errors.New("empty item")
	case strings.Contains(item, "/"):
		return parseCIDR(item)
	case strings.Contains(item, "-"):
		r, err = parseFirstLast(item)
		return r, "", err
	}
	a, err := netip.ParseAddr(item)
	if err != nil {
		return Range{}, "", fmt.Errorf("want an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address: %s", reason(err))
	}
	if err := checkIPv4(a); err != nil {
		return Range{}, "", err
	}
	return Range{a, a}, "", nil
}

func parseCIDR(item string) (Range, string, error) {
	p, err := netip.ParsePrefix(item)
	if err != nil {
		return Range{}, "", fmt.Errorf("invalid CIDR: %s", reason(err))
	}
	if err := checkIPv4(p.Addr()); err != nil {
		return Range{}, "", err
	}
	var warning string
	if m := p.Masked(); m != p {
		warning = fmt.Sprintf("%s has host bits set; using its network %s", item, m)
		p = m
	}
	first := u32(p.Addr())
	last := first | uint32(uint64(1)<<(32-p.Bits())-1)
	if p.Bits() <= 30 {
		first, last = first+1, last-1 // drop network and broadcast addresses
	}
	return Range{addr(first), addr(last)}, warning, nil
}

func parseFirstLast(item string) (Range, error) {
	a, b, _ := strings.Cut(item, "-")
	first, err := parseIPv4(strings.TrimSpace(a))
	if err != nil {
		return Range{}, fmt.Errorf("range start: %w", err)
	}
	last, err := parseIPv4(strings.TrimSpace(b))
	if err != nil {
		return Range{}, fmt.Errorf("range end: %w", err)
	}
	if first.Compare(last) > 0 {
		return Range{}, fmt.Errorf("range start %s is after its end %s", first, last)
	}
	return Range{first, last}, nil
}

// parseIPv4 parses a plain IPv4 address.
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid address %q: %s", s, reason(err))
	}
	return a, checkIPv4(a)
}

// checkIPv4 refuses IPv6, suggesting the IPv4 spelling of a mapped address.
func checkIPv4(a netip.Addr) error {
	switch {
	case a.Is4():
		return nil
	case a.Is4In6():
		return fmt.Errorf("%w: %s is IPv4-mapped IPv6; write it as %s", ErrNotIPv4, a, a.Unmap())
	default:
		return ErrIPv6
	}
}

// reason drops the `ParseAddr("x"): ` preamble of a net/netip error, since
// our messages already name the item.
func reason(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "): "); ok {
		return after
	}
	return msg
}

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

// overlaps reports every range that overlaps an earlier one (in address
// order), naming both by their labels.
func overlaps(ranges []Range, labels []string) []error {
	order := make([]int, len(ranges))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(ranges[i].First.Compare(ranges[j].First), cmp.Compare(i, j))
	})
	var errs []error
	reach := -1 // the range reaching furthest so far
	for _, i := range order {
		if reach >= 0 && ranges[i].First.Compare(ranges[reach].Last) <= 0 {
			a, b := min(reach, i), max(reach, i)
			errs = append(errs, fmt.Errorf("%s overlaps %s", labels[a], labels[b]))
		}
		if reach < 0 || ranges[i].Last.Compare(ranges[reach].Last) > 0 {
			reach = i
		}
	}
	return errs
}

// FindOverlaps reports every range that overlaps an earlier one in address
// order, naming both by their labels (labels[i] names ranges[i]). It lets
// callers that read ranges from elsewhere, such as a pools file, check them
// with the same rule and wording as NewAllocator. All ranges must be valid.
func FindOverlaps(ranges []Range, labels []string) []error {
	return overlaps(ranges, labels)
}

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
