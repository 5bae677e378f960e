package vipconfig

import (
	"fmt"
	"net/netip"
)

// Family is the address family of one ConfigMap's entries, and so how its keys
// are written: IPv4 in the legacy ConfigMap (the dotted quad, as kube-keepalived-vip
// reads it), IPv6 in the ConfigMap beside it (EncodeIPv6Key). The value grammar,
// ownership, foreign keys, drift repair and usage summary are the same for both.
type Family uint8

const (
	IPv4 Family = iota // the legacy ConfigMap; the zero Family
	IPv6               // the IPv6 ConfigMap, which only our agent reads
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

// CanonicalKey returns the address key names, if key is one this provider
// writes in a ConfigMap of family f. No other key is ever matched to an address.
// IPv4.CanonicalKey is CanonicalKey.
func (f Family) CanonicalKey(key string) (netip.Addr, bool) {
	if f == IPv6 {
		return ipv6Key(key)
	}
	return CanonicalKey(key)
}

// Key returns the key of addr in a ConfigMap of family f, or why addr has none.
func (f Family) Key(addr netip.Addr) (string, error) {
	if f == IPv6 {
		return EncodeIPv6Key(addr)
	}
	if !addr.Is4() {
		return "", fmt.Errorf("%s is not an IPv4 address: only IPv4 addresses are published in the legacy ConfigMap", addr)
	}
	return addr.String(), nil
}

// ParseEntry reads one key and value of a ConfigMap of family f as an entry of
// ours. IPv4.ParseEntry is ParseEntry.
func (f Family) ParseEntry(key, value string) (netip.Addr, Entry, error) {
	if f != IPv6 {
		return ParseEntry(key, value)
	}
	addr, err := DecodeIPv6Key(key)
	if err != nil {
		return netip.Addr{}, Entry{}, err
	}
	entry, err := ParseValue(value)
	return addr, entry, err
}

// renderKey is the key Render writes addr under. An IPv4 view is written as it
// always was, every address under its String(); an IPv6 view's addresses that
// have no IPv6 key are not written (false).
func (f Family) renderKey(addr netip.Addr) (string, bool) {
	if f != IPv6 {
		return addr.String(), true
	}
	key, err := EncodeIPv6Key(addr)
	return key, err == nil
}
