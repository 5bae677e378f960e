package vipconfig

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestIPv6KeyRoundTrip(t *testing.T) {
	tests := []struct{ addr, key string }{
		{"2001:db8::1", "2001-db8--1"},
		{"::", "--"},
		{"::1", "--1"},
		{"fe80::", "fe80--"},
		{"2001:db8:0:0:1:0:0:1", "2001-db8--1-0-0-1"},
		{"2001:db8::1:0:0:1", "2001-db8--1-0-0-1"},
		{"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001-db8--1"},
		{"1:2:3:4:5:6:7:8", "1-2-3-4-5-6-7-8"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff"},
		{"::1.2.3.4", "--102-304"},              // embedded dotted quad, not mapped: hex
		{"64:ff9b::10.0.0.1", "64-ff9b--a00-1"}, // NAT64 prefix: an IPv6 address
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			key, err := EncodeIPv6Key(addr)
			if err != nil || key != tt.key {
				t.Fatalf("EncodeIPv6Key(%s) = %q, %v; want %q", addr, key, err, tt.key)
			}
			if msgs := validation.IsConfigMapKey(key); len(msgs) > 0 {
				t.Errorf("key %q is not a ConfigMap key: %v", key, msgs)
			}
			back, err := DecodeIPv6Key(key)
			if err != nil || back != addr {
				t.Errorf("DecodeIPv6Key(%q) = %v, %v; want %s", key, back, err, addr)
			}
		})
	}
}

func TestEncodeIPv6KeyRefuses(t *testing.T) {
	tests := []struct {
		name    string
		addr    netip.Addr
		wantErr string
	}{
		{name: "no address", wantErr: "needs an IPv6 address"},
		{name: "IPv4", addr: netip.MustParseAddr("10.0.0.1"), wantErr: "10.0.0.1 is an IPv4 address: publish it in the legacy ConfigMap"},
		{name: "IPv4-mapped", addr: netip.MustParseAddr("::ffff:10.0.0.1"), wantErr: "::ffff:10.0.0.1 is an IPv4-mapped address, not an IPv6 one: publish it as 10.0.0.1 in the legacy ConfigMap"},
		{name: "zone", addr: netip.MustParseAddr("fe80::1%eth0"), wantErr: `fe80::1%eth0 has zone "eth0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := EncodeIPv6Key(tt.addr)
			if !errorContains(err, tt.wantErr) || key != "" {
				t.Errorf("EncodeIPv6Key(%v) = %q, %v; want an error containing %q", tt.addr, key, err, tt.wantErr)
			}
		})
	}
}

func TestDecodeIPv6KeyRefuses(t *testing.T) {
	tests := []struct{ key, wantErr string }{
		{"2001-0db8--1", `key "2001-0db8--1" is not the canonical key of 2001:db8::1: write it as "2001-db8--1"`},
		{"2001-DB8--1", `write it as "2001-db8--1"`},
		{"2001-db8-0-0-0-0-0-1", `write it as "2001-db8--1"`},
		{"2001:db8::1", `write it as "2001-db8--1"`},
		{"2001-db8--1:", "does not name an IPv6 address"},
		{"--1.2.3.4", `write it as "--102-304"`},
		{"10.0.0.1", `key "10.0.0.1": 10.0.0.1 is an IPv4 address: publish it in the legacy ConfigMap`},
		{"--ffff-10.0.0.1", "IPv4-mapped address, not an IPv6 one: publish it as 10.0.0.1"},
		{"fe80--1%eth0", `has zone "eth0"`},
		{"2001-db8--1 ", "does not name an IPv6 address"},
		{"", `key "" does not name an IPv6 address`},
		{"web", `(2001:db8::1 is "2001-db8--1")`},
		{"-", "does not name an IPv6 address"},
		{"---", "does not name an IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			addr, err := DecodeIPv6Key(tt.key)
			if !errorContains(err, tt.wantErr) || addr.IsValid() {
				t.Errorf("DecodeIPv6Key(%q) = %v, %v; want an error containing %q", tt.key, addr, err, tt.wantErr)
			}
			if addr, ok := IPv6.CanonicalKey(tt.key); ok {
				t.Errorf("IPv6.CanonicalKey(%q) = %v, true; want no address", tt.key, addr)
			}
		})
	}
}

// TestIPv6KeyEveryShape: every pattern of zero and non-zero groups (where RFC
// 5952 puts the "::", and so the "--") round-trips.
func TestIPv6KeyEveryShape(t *testing.T) {
	for mask := range 256 {
		for _, group := range []uint16{0x1, 0xabcd} {
			var b [16]byte
			for i := range 8 {
				if mask&(1<<i) != 0 {
					b[2*i], b[2*i+1] = byte(group>>8), byte(group)
				}
			}
			checkAddrKey(t, netip.AddrFrom16(b))
		}
	}
}

// FuzzIPv6Key: every IPv6 address round-trips through its key, which is a
// ConfigMap key and never an IPv4 one; every key decoding accepts is exactly the
// key of the address it names.
func FuzzIPv6Key(f *testing.F) {
	for _, seed := range []struct {
		hi, lo uint64
		key    string
	}{
		{0x20010db800000000, 1, "2001-db8--1"},
		{0, 0, "--"},
		{0, 0xffff0a000001, "--ffff-10.0.0.1"},
		{0xfe80000000000000, 1, "fe80--1%eth0"},
		{^uint64(0), ^uint64(0), "2001-0db8--1"},
		{0, 0x01020304, "--1.2.3.4"},
		{0, 0, "2001-DB8--1"},
	} {
		f.Add(seed.hi, seed.lo, seed.key)
	}
	f.Fuzz(func(t *testing.T, hi, lo uint64, key string) {
		checkAddrKey(t, addrFrom(hi, lo))
		checkKeyDecode(t, key)
	})
}

// addrFrom is the IPv6 address of the 128 bits hi, lo.
func addrFrom(hi, lo uint64) netip.Addr {
	var b [16]byte
	for i := range 8 {
		b[i], b[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
	}
	return netip.AddrFrom16(b)
}

func checkAddrKey(t *testing.T, addr netip.Addr) {
	t.Helper()
	key, err := EncodeIPv6Key(addr)
	if addr.Is4In6() {
		if err == nil {
			t.Fatalf("EncodeIPv6Key(%s) = %q, want a refusal: an IPv4-mapped address is not an IPv6 entry", addr, key)
		}
		return
	}
	if err != nil {
		t.Fatalf("EncodeIPv6Key(%s): %v", addr, err)
	}
	if msgs := validation.IsConfigMapKey(key); len(msgs) > 0 || strings.ContainsAny(key, ":.") {
		t.Fatalf("key %q of %s is not a ConfigMap key of hex digits and '-': %v", key, addr, msgs)
	}
	if _, ok := CanonicalKey(key); ok {
		t.Fatalf("key %q of %s is also an IPv4 key", key, addr)
	}
	back, err := DecodeIPv6Key(key)
	if err != nil || back != addr {
		t.Fatalf("DecodeIPv6Key(EncodeIPv6Key(%s) = %q) = %v, %v", addr, key, back, err)
	}
	if got, ok := IPv6.CanonicalKey(key); !ok || got != addr {
		t.Fatalf("IPv6.CanonicalKey(%q) = %v, %v; want %s", key, got, ok, addr)
	}
}

func checkKeyDecode(t *testing.T, key string) {
	t.Helper()
	addr, err := DecodeIPv6Key(key)
	quick, ok := IPv6.CanonicalKey(key)
	if (err == nil) != ok || quick != addr {
		t.Fatalf("DecodeIPv6Key(%q) = %v, %v but IPv6.CanonicalKey = %v, %v", key, addr, err, quick, ok)
	}
	if err != nil {
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("key %q", key)) {
			t.Fatalf("DecodeIPv6Key(%q) error %q does not name the key", key, err)
		}
		return
	}
	if again, err := EncodeIPv6Key(addr); err != nil || again != key {
		t.Fatalf("DecodeIPv6Key(%q) = %s, which encodes to %q, %v", key, addr, again, err)
	}
}
