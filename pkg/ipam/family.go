package ipam

import (
	"fmt"
	"net/netip"
)

// Family is an address family.
type Family uint8

// The address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// FamilyOf is a's family: IPv4 for an IPv4 address, IPv6 for any other valid
// address (an IPv4-mapped one too, which Stack.Check refuses), 0 for the zero
// Addr.
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return 0
}

// Stack says which address families the parsers and allocators accept. The
// package-level ParseRanges, ParseRange, NewAllocator and Repool are those
// of IPv4Only, the zero value; DualStack's accept IPv6 beside IPv4.
//
// The refusal of IPv6 lives in one place, Check: a caller that cannot publish
// IPv6 yet keeps to IPv4Only, and moving to DualStack is a change of that
// one value, at the point where it reads its configuration.
type Stack uint8

const (
	// IPv4Only refuses IPv6 with ErrIPv6: kube-keepalived-vip publishes
	// addresses as ConfigMap keys, which cannot contain ':'.
	IPv4Only Stack = iota
	// DualStack accepts IPv4 and IPv6 alike.
	DualStack
)

func (s Stack) String() string {
	switch s {
	case IPv4Only:
		return "IPv4Only"
	case DualStack:
		return "DualStack"
	}
	return fmt.Sprintf("Stack(%d)", uint8(s))
}

// Check refuses an address the stack does not accept. Both stacks accept
// IPv4 and refuse an IPv4-mapped IPv6 address (ErrNotIPv4, naming its IPv4
// spelling) and the zero Addr (ErrNotIPv4). IPv4Only refuses every other IPv6
// address (ErrIPv6); DualStack accepts those without a zone.
func (s Stack) Check(a netip.Addr) error {
	switch {
	case a.Is4():
		return nil
	case a.Is4In6():
		return fmt.Errorf("%w: %s is IPv4-mapped IPv6; write it as %s", ErrNotIPv4, a, a.Unmap())
	case !a.IsValid():
		return fmt.Errorf("%w: no address", ErrNotIPv4)
	case s != DualStack:
		return ErrIPv6
	case a.Zone() != "":
		return fmt.Errorf("%s has a zone: give the address without %%%s", a, a.Zone())
	}
	return nil
}

// plain6 reports whether a is an IPv6 address the IPv6 maths works on: not
// IPv4-mapped (that is IPv4, written another way) and without a zone.
func plain6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.Zone() == ""
}

// syntax describes the items ParseRange reads, for error messages.
func (s Stack) syntax() string {
	if s == DualStack {
		return "a CIDR (10.0.0.0/24, fd00::/120), range (10.0.0.10-10.0.0.20, fd00::10-fd00::20) or address"
	}
	return "an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address"
}

// listSyntax describes the lists ParseRanges reads, for error messages.
func (s Stack) listSyntax() string {
	if s == DualStack {
		return "a comma-separated list of IPv4 or IPv6 CIDRs or first-last ranges"
	}
	return "a comma-separated list of IPv4 CIDRs or first-last ranges"
}
