package vrrpwatch

import (
	"fmt"
	"net/netip"
)

// protocolVRRP is VRRP's IP protocol number.
const protocolVRRP = 112

const (
	vrrpHeaderLen = 8 // ver/type, vrid, prio, count, 2 bytes auth/interval, checksum
	authDataLen   = 8 // VRRPv2 only, after the addresses
	typeAdvert    = 1
)

// Advert is one VRRP advertisement seen on the wire.
type Advert struct {
	Source   netip.Addr   // IPv4 source address of the packet
	Version  int          // 2 or 3
	VRID     int          // virtual router ID
	Priority int          // 255 for the address owner, 0 for a master giving up
	Addrs    []netip.Addr // the IPv4 addresses the advert carries
}

// Parse reads one IPv4 packet as a raw IPv4 socket returns it (IP header included)
// carrying a VRRPv2 (RFC 3768) or VRRPv3 for IPv4 (RFC 5798) advertisement. It does
// not verify the checksum: keepalived does, and we only observe.
func Parse(pkt []byte) (Advert, error) {
	payload, src, err := ipv4Payload(pkt)
	if err != nil {
		return Advert{}, err
	}
	if len(payload) < vrrpHeaderLen {
		return Advert{}, fmt.Errorf("VRRP header too short: %d bytes, want %d", len(payload), vrrpHeaderLen)
	}
	a := Advert{
		Source:   src,
		Version:  int(payload[0] >> 4),
		VRID:     int(payload[1]),
		Priority: int(payload[2]),
	}
	if a.Version != 2 && a.Version != 3 {
		return Advert{}, fmt.Errorf("VRRP version %d, want 2 or 3", a.Version)
	}
	if typ := payload[0] & 0x0f; typ != typeAdvert {
		return Advert{}, fmt.Errorf("VRRP type %d is not an advertisement (%d)", typ, typeAdvert)
	}
	count := int(payload[3])
	end := vrrpHeaderLen + 4*count
	if end > len(payload) {
		return Advert{}, fmt.Errorf("VRRP address count %d larger than the packet: %d bytes of addresses", count, len(payload)-vrrpHeaderLen)
	}
	if a.Version == 2 && end+authDataLen > len(payload) {
		return Advert{}, fmt.Errorf("VRRPv2 packet too short for its %d bytes of authentication data", authDataLen)
	}
	a.Addrs = make([]netip.Addr, count)
	for i := range a.Addrs {
		off := vrrpHeaderLen + 4*i
		a.Addrs[i] = netip.AddrFrom4([4]byte(payload[off : off+4]))
	}
	return a, nil
}

// ipv4Payload checks the IPv4 header and returns what follows it and the source address.
// A raw socket on Linux hands over the header as it was on the wire; IHL may include
// options.
func ipv4Payload(pkt []byte) ([]byte, netip.Addr, error) {
	const minHeader = 20
	if len(pkt) < minHeader {
		return nil, netip.Addr{}, fmt.Errorf("IPv4 header too short: %d bytes, want %d", len(pkt), minHeader)
	}
	if v := pkt[0] >> 4; v != 4 {
		return nil, netip.Addr{}, fmt.Errorf("IP version %d, want 4", v)
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < minHeader || ihl > len(pkt) {
		return nil, netip.Addr{}, fmt.Errorf("IPv4 header length %d bytes invalid for a %d-byte packet", ihl, len(pkt))
	}
	if p := pkt[9]; p != protocolVRRP {
		return nil, netip.Addr{}, fmt.Errorf("IP protocol %d, want VRRP (%d)", p, protocolVRRP)
	}
	// The kernel has already trimmed the packet to its total length.
	return pkt[ihl:], netip.AddrFrom4([4]byte(pkt[12:16])), nil
}
