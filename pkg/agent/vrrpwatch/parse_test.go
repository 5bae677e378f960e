package vrrpwatch

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// advert describes a packet for the builders below; zero fields take sane values.
type advert struct {
	version, typ, vrid, prio int
	count                    int // 0: len(addrs)
	addrs                    []string
	options                  int // bytes of IPv4 options (a multiple of 4)
	protocol                 int // 0: VRRP
	src                      string
}

// vrrp builds the VRRP part: header, addresses and, for version 2, authentication data.
func vrrp(a advert) []byte {
	ver := intOr(a.version, 2)
	count := len(a.addrs)
	if a.count > 0 {
		count = a.count
	}
	b := []byte{byte(ver<<4 | intOr(a.typ, typeAdvert)), byte(a.vrid), byte(a.prio), byte(count)}
	if ver == 2 {
		b = append(b, 0, 1) // no authentication, advert interval 1 s
	} else {
		b = append(b, 0x00, 100) // max advert interval 100 cs
	}
	b = append(b, 0xde, 0xad) // checksum, deliberately wrong: Parse must not care
	for _, s := range a.addrs {
		ip := netip.MustParseAddr(s).As4()
		b = append(b, ip[:]...)
	}
	if ver == 2 {
		b = append(b, make([]byte, authDataLen)...)
	}
	return b
}

// packet wraps vrrp(a) in an IPv4 header as a raw socket returns it.
func packet(a advert) []byte {
	payload := vrrp(a)
	ihl := 20 + a.options
	h := make([]byte, ihl)
	h[0] = byte(4<<4 | ihl/4)
	total := ihl + len(payload)
	h[2], h[3] = byte(total>>8), byte(total)
	h[8] = 255
	h[9] = byte(intOr(a.protocol, protocolVRRP))
	src := netip.MustParseAddr(strOr(a.src, "192.0.2.7")).As4()
	copy(h[12:], src[:])
	copy(h[16:], vrrpGroup[:])
	for i := 20; i < ihl; i++ {
		h[i] = 1 // NOP options
	}
	return append(h, payload...)
}

func intOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// set returns b with b[i] = v.
func set(b []byte, i int, v byte) []byte {
	b[i] = v
	return b
}

func strOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(s))
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		want    Advert
		wantErr string
	}{{
		name: "v2 one address",
		pkt:  packet(advert{vrid: 51, prio: 150, addrs: []string{"10.0.0.1"}}),
		want: Advert{Source: netip.MustParseAddr("192.0.2.7"), Version: 2, VRID: 51, Priority: 150, Addrs: addrs("10.0.0.1")},
	}, {
		name: "v2 zero addresses",
		pkt:  packet(advert{vrid: 1, prio: 100}),
		want: Advert{Source: netip.MustParseAddr("192.0.2.7"), Version: 2, VRID: 1, Priority: 100, Addrs: addrs()},
	}, {
		name: "v3 several addresses",
		pkt:  packet(advert{version: 3, vrid: 255, prio: 255, addrs: []string{"10.0.0.1", "10.0.0.2", "198.51.100.9"}}),
		want: Advert{Source: netip.MustParseAddr("192.0.2.7"), Version: 3, VRID: 255, Priority: 255, Addrs: addrs("10.0.0.1", "10.0.0.2", "198.51.100.9")},
	}, {
		name: "IHL 6 with options",
		pkt:  packet(advert{options: 4, vrid: 7, prio: 100, addrs: []string{"10.0.0.1"}, src: "203.0.113.4"}),
		want: Advert{Source: netip.MustParseAddr("203.0.113.4"), Version: 2, VRID: 7, Priority: 100, Addrs: addrs("10.0.0.1")},
	}, {
		name: "IHL 15 with options, v3",
		pkt:  packet(advert{options: 40, version: 3, vrid: 8, prio: 100, addrs: []string{"10.0.0.2"}}),
		want: Advert{Source: netip.MustParseAddr("192.0.2.7"), Version: 3, VRID: 8, Priority: 100, Addrs: addrs("10.0.0.2")},
	}, {
		name: "priority 0 is kept",
		pkt:  packet(advert{vrid: 9}),
		want: Advert{Source: netip.MustParseAddr("192.0.2.7"), Version: 2, VRID: 9, Priority: 0, Addrs: addrs()},
	}, {
		name:    "empty",
		pkt:     nil,
		wantErr: "IPv4 header too short",
	}, {
		name:    "truncated IPv4 header",
		pkt:     packet(advert{})[:19],
		wantErr: "IPv4 header too short",
	}, {
		name:    "IHL beyond packet",
		pkt:     packet(advert{options: 40})[:40],
		wantErr: "IPv4 header length 60 bytes invalid",
	}, {
		name:    "not IPv4",
		pkt:     set(packet(advert{}), 0, 0x65),
		wantErr: "IP version 6",
	}, {
		name:    "wrong protocol",
		pkt:     packet(advert{protocol: 17}),
		wantErr: "IP protocol 17, want VRRP",
	}, {
		name:    "truncated VRRP header",
		pkt:     packet(advert{})[:27],
		wantErr: "VRRP header too short: 7 bytes",
	}, {
		name:    "wrong type",
		pkt:     packet(advert{typ: 2}),
		wantErr: "VRRP type 2 is not an advertisement",
	}, {
		name:    "bad version",
		pkt:     packet(advert{version: 4}),
		wantErr: "VRRP version 4",
	}, {
		name:    "version 0",
		pkt:     set(packet(advert{}), 20, 0x01),
		wantErr: "VRRP version 0",
	}, {
		name:    "v3 count beyond length",
		pkt:     packet(advert{version: 3, count: 3, addrs: []string{"10.0.0.1", "10.0.0.2"}}),
		wantErr: "VRRP address count 3 larger than the packet: 8 bytes",
	}, {
		name:    "v2 count beyond length",
		pkt:     packet(advert{count: 255, addrs: []string{"10.0.0.1"}}),
		wantErr: "VRRP address count 255 larger than the packet",
	}, {
		name:    "v2 without authentication data",
		pkt:     packet(advert{addrs: []string{"10.0.0.1"}})[:20+8+4+7],
		wantErr: "too short for its 8 bytes of authentication data",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.pkt)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if !equalAdvert(got, tt.want) {
				t.Errorf("Parse() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func equalAdvert(a, b Advert) bool {
	return a.Source == b.Source && a.Version == b.Version && a.VRID == b.VRID &&
		a.Priority == b.Priority && slices.Equal(a.Addrs, b.Addrs)
}

func FuzzParse(f *testing.F) {
	f.Add(packet(advert{vrid: 51, addrs: []string{"10.0.0.1"}}))
	f.Add(packet(advert{version: 3, options: 8, addrs: []string{"10.0.0.1", "10.0.0.2"}}))
	f.Add(packet(advert{count: 9}))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		a, err := Parse(pkt)
		if err != nil {
			return
		}
		if a.Version != 2 && a.Version != 3 {
			t.Errorf("accepted version %d", a.Version)
		}
		ihl := int(pkt[0]&0x0f) * 4
		if want := int(pkt[ihl+3]); len(a.Addrs) != want {
			t.Errorf("got %d addresses, count says %d", len(a.Addrs), want)
		}
	})
}
