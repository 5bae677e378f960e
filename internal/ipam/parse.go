package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

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
