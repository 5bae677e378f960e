package vipconfig

import "net/netip"

// CanonicalKey returns the address a key names, if the key is an IPv4 address in
// the canonical form this provider writes. No other key is ever matched to an
// address: a key such as "010.0.0.1" or an IPv6 form names nothing ours.
func CanonicalKey(key string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(key)
	if err != nil || !addr.Is4() {
		return netip.Addr{}, false
	}
	var buf [len("255.255.255.255")]byte
	if string(addr.AppendTo(buf[:0])) != key {
		return netip.Addr{}, false
	}
	return addr, true
}

// Ours reports whether key belongs to this provider: the ownership annotation (or
// the 2017 seed) lists it, or its value is the entry held for its address. want
// is that entry, wanted whether there is one: the caller looks it up by the
// address CanonicalKey(key) gives, and passes false when it gives none. An
// unlisted empty value ("announce, no backend") is never ours. Every other key
// was written by someone else, is never changed or deleted, and blocks its
// address.
func (s Snapshot) Ours(key string, want Entry, wanted bool) bool {
	if s.Listed[key] {
		return true
	}
	value := s.Data[key]
	return wanted && value != "" && value == want.Value()
}
