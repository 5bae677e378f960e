package vipconfig

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxIPv6Key is the length of the longest key of an IPv6 address
// ("ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff").
const maxIPv6Key = len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")

// EncodeIPv6Key returns the key of addr in the IPv6 ConfigMap: its RFC 5952 text
// (netip.Addr.String) with every ':' written as '-', as ConfigMap keys allow only
// [-._a-zA-Z0-9]. 2001:db8::1 is "2001-db8--1". IPv4 and IPv4-mapped addresses
// belong in the legacy ConfigMap, and a VIP has no zone: those are refused.
func EncodeIPv6Key(addr netip.Addr) (string, error) {
	switch {
	case !addr.IsValid():
		return "", fmt.Errorf("no address given: an entry of the IPv6 ConfigMap needs an IPv6 address")
	case addr.Is4():
		return "", fmt.Errorf("%s is an IPv4 address: publish it in the legacy ConfigMap under its dotted quad, not in the IPv6 one", addr)
	case addr.Is4In6():
		return "", fmt.Errorf("%s is an IPv4-mapped address, not an IPv6 one: publish it as %s in the legacy ConfigMap", addr, addr.Unmap())
	case addr.Zone() != "":
		return "", fmt.Errorf("%s has zone %q, and a VIP belongs to no interface: give the address without it (%s)", addr, addr.Zone(), addr.WithZone(""))
	}
	var buf [maxIPv6Key]byte
	b := addr.AppendTo(buf[:0])
	for i, c := range b {
		if c == ':' {
			b[i] = '-'
		}
	}
	return string(b), nil
}

// DecodeIPv6Key returns the address key names in the IPv6 ConfigMap. Only the key
// EncodeIPv6Key writes is accepted: any other spelling of the address (leading
// zeros, upper case, ':' left in, a zone, an embedded dotted quad) names nothing
// of ours, as CanonicalKey does for the legacy ConfigMap, and is left to whoever
// wrote it.
func DecodeIPv6Key(key string) (netip.Addr, error) {
	if addr, ok := ipv6Key(key); ok {
		return addr, nil
	}
	addr, err := netip.ParseAddr(strings.ReplaceAll(key, "-", ":"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("key %q does not name an IPv6 address: keys of the IPv6 ConfigMap are the address with every ':' written as '-' (2001:db8::1 is %q)", key, "2001-db8--1")
	}
	canonical, err := EncodeIPv6Key(addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("key %q: %w", key, err)
	}
	return netip.Addr{}, fmt.Errorf("key %q is not the canonical key of %s: write it as %q (RFC 5952: lower case, no leading zeros, the longest run of zeros as '--')", key, addr, canonical)
}

// ipv6Key is DecodeIPv6Key without the message, for every key of every version read.
func ipv6Key(key string) (netip.Addr, bool) {
	if len(key) > maxIPv6Key || strings.IndexByte(key, ':') >= 0 {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(strings.ReplaceAll(key, "-", ":"))
	if err != nil || !addr.Is6() || addr.Is4In6() || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	var buf [maxIPv6Key]byte
	b := addr.AppendTo(buf[:0])
	if len(b) != len(key) {
		return netip.Addr{}, false
	}
	for i, c := range b {
		if c == ':' {
			c = '-'
		}
		if c != key[i] {
			return netip.Addr{}, false
		}
	}
	return addr, true
}
