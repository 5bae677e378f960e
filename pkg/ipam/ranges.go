package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// Range is an inclusive range [First, Last] of one family: two IPv4
// addresses, or two IPv6 addresses with no zone and not IPv4-mapped.
type Range struct{ First, Last netip.Addr }

// valid reports whether r is a usable range of either family.
func (r Range) valid() bool {
	switch {
	case r.First.Is4():
		return r.Last.Is4() && r.First.Compare(r.Last) <= 0
	case plain6(r.First):
		return plain6(r.Last) && r.First.Compare(r.Last) <= 0
	}
	return false
}

// Family is the family of r's addresses; 0 for an invalid range.
func (r Range) Family() Family {
	if !r.valid() {
		return 0
	}
	return FamilyOf(r.First)
}

// Size is the number of addresses in r; 0 for an invalid range. An IPv6
// range may hold more than fit in a uint64: its Size saturates at
// math.MaxUint64 (Allocator.FamilyUsage counts exactly).
func (r Range) Size() uint64 {
	if !r.valid() {
		return 0
	}
	if r.First.Is6() {
		if w := u128Of(r.Last).sub(u128Of(r.First)); w.hi == 0 && w.lo < math.MaxUint64 {
			return w.lo + 1
		}
		return math.MaxUint64
	}
	return uint64(u32(r.Last)) - uint64(u32(r.First)) + 1
}

// Contains reports whether a lies within r. An address with a zone lies in
// no range.
func (r Range) Contains(a netip.Addr) bool {
	return r.valid() && a.Zone() == "" && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// String gives the CIDR whose addresses ParseRanges would turn into exactly r
// (so "10.0.0.0/29" for 10.0.0.1-10.0.0.6, "fd00::/120" for
// fd00::1-fd00::ff), else "first-last". Either way ParseRanges(r.String())
// gives back r: IPv4Only's for an IPv4 range, DualStack's for any.
func (r Range) String() string {
	if p, ok := r.prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// prefix finds the CIDR that ParseRanges maps onto r, if there is one: a /31
// or /32 covering r exactly, or a wider prefix whose network and broadcast
// addresses sit just outside r; for IPv6, a /127 or /128 covering r exactly,
// or a wider prefix whose subnet-router anycast address sits just before r.
func (r Range) prefix() (netip.Prefix, bool) {
	if !r.valid() {
		return netip.Prefix{}, false
	}
	if r.First.Is6() {
		return r.prefix6()
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

func (r Range) prefix6() (netip.Prefix, bool) {
	first, last := u128Of(r.First), u128Of(r.Last)
	switch d := last.sub(first); {
	case d.isZero():
		return netip.PrefixFrom(r.First, 128), true
	case d == u128{0, 1} && first.lo&1 == 0:
		return netip.PrefixFrom(r.First, 127), true
	case first.isZero():
		return netip.Prefix{}, false
	}
	// A /126 or wider: r is [net+1, net|host], host all ones, net aligned.
	net := first.dec()
	host := last.sub(net)
	if !host.lowOnes() || host.less(u128{0, 3}) || !net.and(host).isZero() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(net.addr6(), 128-host.bitLen()), true
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
// refused: the consumer cannot publish it (DualStack.ParseRanges reads it).
// Every bad item is reported, each naming the item, and ranges must not
// overlap.
func ParseRanges(spec string) (ranges []Range, warnings []string, err error) {
	return IPv4Only.ParseRanges(spec)
}

// ParseRanges parses a list as the package-level ParseRanges does, with the
// families s accepts. In DualStack, IPv6 items may stand beside IPv4 ones:
// an IPv6 CIDR of /126 or wider loses its subnet-router anycast address (the
// all-zero host) and keeps its last; /127 and /128 keep all theirs, as do
// ranges. A range's ends must be of one family.
func (s Stack) ParseRanges(spec string) (ranges []Range, warnings []string, err error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil, fmt.Errorf("no addresses given: want %s", s.listSyntax())
	}
	var errs []error
	var labels []string
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		label := fmt.Sprintf("item %d %q", i+1, item)
		r, warning, err := s.parseItem(item)
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
func (s Stack) parseItem(item string) (r Range, warning string, err error) {
	switch {
	case item == "":
		return Range{}, "", errors.New("empty item")
	case strings.Contains(item, "/"):
		return s.parseCIDR(item)
	case strings.Contains(item, "-"):
		r, err = s.parseFirstLast(item)
		return r, "", err
	}
	a, err := netip.ParseAddr(item)
	if err != nil {
		return Range{}, "", fmt.Errorf("want %s: %s", s.syntax(), reason(err))
	}
	if err := s.Check(a); err != nil {
		return Range{}, "", err
	}
	return Range{a, a}, "", nil
}

func (s Stack) parseCIDR(item string) (Range, string, error) {
	p, err := netip.ParsePrefix(item)
	if err != nil {
		return Range{}, "", fmt.Errorf("invalid CIDR: %s", reason(err))
	}
	if err := s.Check(p.Addr()); err != nil {
		return Range{}, "", err
	}
	var warning string
	if m := p.Masked(); m != p {
		warning = fmt.Sprintf("%s has host bits set; using its network %s", item, m)
		p = m
	}
	if p.Addr().Is6() {
		r := PrefixRange(p)
		if p.Bits() <= 126 {
			r.First = r.First.Next() // drop the subnet-router anycast address
		}
		return r, warning, nil
	}
	first := u32(p.Addr())
	last := first | uint32(uint64(1)<<(32-p.Bits())-1)
	if p.Bits() <= 30 {
		first, last = first+1, last-1 // drop network and broadcast addresses
	}
	return Range{addr(first), addr(last)}, warning, nil
}

func (s Stack) parseFirstLast(item string) (Range, error) {
	a, b, _ := strings.Cut(item, "-")
	first, err := s.parseAddr(strings.TrimSpace(a))
	if err != nil {
		return Range{}, fmt.Errorf("range start: %w", err)
	}
	last, err := s.parseAddr(strings.TrimSpace(b))
	if err != nil {
		return Range{}, fmt.Errorf("range end: %w", err)
	}
	if f, g := FamilyOf(first), FamilyOf(last); f != g {
		return Range{}, fmt.Errorf("range start %s is %s but its end %s is %s: give both ends in one family", first, f, last, g)
	}
	if first.Compare(last) > 0 {
		return Range{}, fmt.Errorf("range start %s is after its end %s", first, last)
	}
	return Range{first, last}, nil
}

// parseAddr parses a plain address of a family s accepts.
func (s Stack) parseAddr(text string) (netip.Addr, error) {
	a, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid address %q: %s", text, reason(err))
	}
	return a, s.Check(a)
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
	return IPv4Only.ParseRange(item)
}

// ParseRange parses one item of a list s.ParseRanges reads.
func (s Stack) ParseRange(item string) (r Range, warning string, err error) {
	return s.parseItem(strings.TrimSpace(item))
}

// PrefixRange is every address of the prefix p, network and broadcast (or
// subnet-router anycast) included: what an operator means by a CIDR of
// addresses to keep away from Services, unlike a pool's CIDR, whose first
// (and, for IPv4, last) are not handed out. Its host bits are ignored; an
// invalid p gives the invalid zero Range.
func PrefixRange(p netip.Prefix) Range {
	p = p.Masked()
	switch {
	case !p.IsValid():
		return Range{}
	case p.Addr().Is6():
		last := u128Of(p.Addr()).or(hostMask6(p.Bits()))
		return Range{p.Addr(), last.addr6()}
	}
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

// cut removes sorted, disjoint holes from r. Holes of the other family sort
// wholly before or after r (netip orders IPv4 before IPv6), so they cut
// nothing.
func cut(r Range, holes []Range) []Range {
	var out []Range
	next := r.First // the lowest address of r not yet placed
	// Skip the holes ending before r.
	i, _ := slices.BinarySearchFunc(holes, r.First, func(h Range, a netip.Addr) int { return h.Last.Compare(a) })
	for _, h := range holes[i:] {
		if h.First.Compare(r.Last) > 0 {
			break
		}
		if h.First.Compare(next) > 0 {
			out = append(out, Range{next, h.First.Prev()})
		}
		if h.Last.Compare(next) >= 0 {
			if next = h.Last.Next(); !next.IsValid() {
				return out // the hole reaches the top of the address space
			}
		}
	}
	if next.Compare(r.Last) <= 0 {
		out = append(out, Range{next, r.Last})
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
	slices.SortFunc(out, func(a, b Range) int { return a.First.Compare(b.First) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && (r.First.Compare(merged[n-1].Last) <= 0 || merged[n-1].Last.Next() == r.First) {
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

// special are the blocks no node may announce for a Service, by family:
// taking one over on the nodes' segment breaks the host itself or the
// segment's protocols (224.0.0.18 is VRRP's own group, ff02::12 VRRPv3's).
var (
	special4 = []specialBlock{
		{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (0.0.0.0/8)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback (127.0.0.0/8)"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local (169.254.0.0/16)"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast (224.0.0.0/4)"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast (240.0.0.0/4)"},
	}
	special6 = []specialBlock{
		{netip.MustParsePrefix("::/128"), "the unspecified address (::/128)"},
		{netip.MustParsePrefix("::1/128"), "loopback (::1/128)"},
		{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped (::ffff:0:0/96), IPv4 written as IPv6"},
		{netip.MustParsePrefix("fe80::/10"), "link-local (fe80::/10)"},
		{netip.MustParsePrefix("ff00::/8"), "multicast (ff00::/8)"},
	}
)

type specialBlock struct {
	prefix netip.Prefix
	what   string
}

// specialOf lists the special blocks of family f.
func specialOf(f Family) []specialBlock {
	switch f {
	case IPv4:
		return special4
	case IPv6:
		return special6
	}
	return nil
}

// documentation is the IPv6 documentation prefix (RFC 3849). Examples use
// it, so an address in it is handed out only when the operator asks: from a
// pool range that lies inside it. A range that merely spans it is refused, as
// one overlapping a special block is, and so is a request for one of its
// addresses outside every pool (CheckUnpooled).
var documentation = netip.MustParsePrefix("2001:db8::/32")

// CheckSpecial refuses an address of a special-purpose block, with an error
// wrapping ErrSpecial that names the block. Zones are ignored.
func CheckSpecial(a netip.Addr) error {
	for _, s := range specialOf(FamilyOf(a)) {
		if s.prefix.Contains(a.WithZone("")) {
			return fmt.Errorf("%w: %s is %s", ErrSpecial, a, s.what)
		}
	}
	return nil
}

// CheckUnpooled refuses an address that only a pool may hand out, with an
// error wrapping ErrSpecial: one of the IPv6 documentation prefix
// 2001:db8::/32. Call it for a requested address that lies outside every
// pool (an operator who wants such addresses lists them in a pool).
func CheckUnpooled(a netip.Addr) error {
	if documentation.Contains(a.WithZone("")) {
		return fmt.Errorf("%w: %s is in the documentation prefix (%s), handed out only from a pool that lists it", ErrSpecial, a, documentation)
	}
	return nil
}

// OverlapsSpecial names the special-purpose block r overlaps, if any, and
// refuses an IPv6 range that spans the documentation prefix without lying
// inside it.
func OverlapsSpecial(r Range) error {
	for _, s := range specialOf(r.Family()) {
		if b := PrefixRange(s.prefix); overlap(r, b) {
			return fmt.Errorf("%w: %s overlaps %s", ErrSpecial, r, s.what)
		}
	}
	if d := PrefixRange(documentation); overlap(r, d) && (r.First.Compare(d.First) < 0 || r.Last.Compare(d.Last) > 0) {
		return fmt.Errorf("%w: %s spans the documentation prefix (%s), handed out only from a range inside it", ErrSpecial, r, documentation)
	}
	return nil
}

// overlap reports whether ranges a and b share an address.
func overlap(a, b Range) bool {
	return a.First.Compare(b.Last) <= 0 && b.First.Compare(a.Last) <= 0
}

// IsCIDREdge reports whether a is the network or broadcast address of a CIDR
// whose inside is one of rs, or the subnet-router anycast address of an IPv6
// one: those are dropped from a CIDR pool and must not come back through a
// request.
func IsCIDREdge(rs []Range, a netip.Addr) bool {
	if !a.Is4() {
		return isAnycastEdge(rs, a)
	}
	n := uint64(u32(a))
	for _, r := range rs {
		if !r.First.Is4() {
			continue
		}
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

// isAnycastEdge reports whether a sits just before one of rs that is the
// inside of an IPv6 CIDR of /126 or wider: a is its subnet-router anycast
// address.
func isAnycastEdge(rs []Range, a netip.Addr) bool {
	if !plain6(a) {
		return false
	}
	n := u128Of(a)
	for _, r := range rs {
		if !r.valid() || !r.First.Is6() || n == maxU128 || u128Of(r.First) != n.inc() {
			continue
		}
		if host := u128Of(r.Last).sub(n); host.lowOnes() && !host.less(u128{0, 3}) && n.and(host).isZero() {
			return true
		}
	}
	return false
}
