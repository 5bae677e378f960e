// Package vipconfig holds the contract of the ConfigMap that kube-keepalived-vip reads:
// keys are IPv4 addresses, values are "<namespace>/<service>" with an optional
// ":NAT", ":DR" or ":PROXY" suffix. It also records which keys this provider owns, so
// entries written by people or other tools are never changed or deleted.
//
// IPv6 entries cannot be keys of that ConfigMap (keys allow only [-._a-zA-Z0-9]);
// they go to a second ConfigMap beside it, by default "<name>-ipv6"
// (IPv6ConfigMapName), which only our node agent reads. Its values, ownership
// annotation, foreign keys, drift repair and usage summary follow the same rules
// (Family.Render, NewFamilyWriter); only the keys differ. The key of an IPv6
// address is its RFC 5952 text (netip.Addr.String, no zone) with every ':' written
// as '-': 2001:db8::1 is "2001-db8--1", :: is "--". Decoding writes '-' back as
// ':', and a key is ours only if it is exactly the key of the address it names
// (EncodeIPv6Key, DecodeIPv6Key). IPv4 keys never hold a '-', so the two kinds of
// key never collide; IPv4-mapped addresses (::ffff:a.b.c.d) are IPv4, not IPv6
// entries.
package vipconfig
