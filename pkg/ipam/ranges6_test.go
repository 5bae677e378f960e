package ipam

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRangesDualStack(t *testing.T) {
	const mapped = "::ffff:10.0.0.1 is IPv4-mapped IPv6; write it as 10.0.0.1"
	tests := []parseCase{
		parses("/64 drops its anycast address and keeps its last", "fd00::/64", "fd00::1-fd00::ffff:ffff:ffff:ffff"),
		parses("/120", "fd00::/120", "fd00::1-fd00::ff"),
		parses("/126 keeps three", "fd00::4/126", "fd00::5-fd00::7"),
		parses("/127 keeps both", "fd00::4/127", "fd00::4-fd00::5"),
		parses("/128 keeps its address", "fd00::4/128", "fd00::4-fd00::4"),
		parses("/16", "fd00::/16", "fd00::1-fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		parses("/0", "::/0", "::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		parses("range is inclusive", "fd00::10-fd00::20", "fd00::10-fd00::20"),
		parses("range across the 64-bit boundary", "fd00::ffff:ffff:ffff:fffe - fd00:0:0:1::1", "fd00::ffff:ffff:ffff:fffe-fd00:0:0:1::1"),
		parses("bare address", "fd00::7", "fd00::7-fd00::7"),
		parses("IPv4 as before", "10.0.0.0/30, 10.0.1.5-10.0.1.9", "10.0.0.1-10.0.0.2", "10.0.1.5-10.0.1.9"),
		parses("both families, in order given", " fd00::/126, 10.0.0.0/31 ,fd00:1::1 ", "fd00::1-fd00::3", "10.0.0.0-10.0.0.1", "fd00:1::1-fd00:1::1"),
		parses("the top of the space", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127",
			"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		parses("adjacent IPv6 ranges do not overlap", "fd00::/127, fd00::2-fd00::9", "fd00::-fd00::1", "fd00::2-fd00::9"),
		warns("host bits set", "fd00::5/64", []string{"fd00::1-fd00::ffff:ffff:ffff:ffff"},
			"fd00::5/64 has host bits set; using its network fd00::/64"),

		fails("empty", "", nil, "no addresses given: want a comma-separated list of IPv4 or IPv6 CIDRs or first-last ranges"),
		fails("word", "foo", nil, `item 1 "foo": want a CIDR (10.0.0.0/24, fd00::/120), range (10.0.0.10-10.0.0.20, fd00::10-fd00::20) or address`),
		fails("bad prefix length", "fd00::/129", nil, `item 1 "fd00::/129": invalid CIDR: prefix length out of range`),
		fails("backwards range", "fd00::9-fd00::1", nil, `item 1 "fd00::9-fd00::1": range start fd00::9 is after its end fd00::1`),
		fails("range across families", "10.0.0.1-fd00::1", nil,
			`item 1 "10.0.0.1-fd00::1": range start 10.0.0.1 is IPv4 but its end fd00::1 is IPv6: give both ends in one family`),
		fails("IPv4-mapped address", "::ffff:10.0.0.1", ErrNotIPv4, `item 1 "::ffff:10.0.0.1": not an IPv4 address: `+mapped),
		fails("IPv4-mapped CIDR", "::ffff:10.0.0.0/104", ErrNotIPv4, "write it as 10.0.0.0"),
		fails("IPv4-mapped range end", "fd00::1-::ffff:10.0.0.1", ErrNotIPv4, "range end: not an IPv4 address: "+mapped),
		fails("zone", "fe80::1%eth0", nil, `item 1 "fe80::1%eth0": fe80::1%eth0 has a zone: give the address without %eth0`),
		fails("zone in a range", "fd00::1%eth0-fd00::9", nil, "range start: fd00::1%eth0 has a zone"),
		fails("overlapping IPv6", "fd00::/64, fd00::8:0/112", nil, `item 1 "fd00::/64" overlaps item 2 "fd00::8:0/112"`),
		fails("every problem reported", "fd00::/64, fd00::5, 10.0.0.9-fd00::1, ::ffff:1.2.3.4, fd00::/200", nil,
			`item 1 "fd00::/64" overlaps item 2 "fd00::5"`, `item 3 "10.0.0.9-fd00::1"`, `item 4 "::ffff:1.2.3.4"`, `item 5 "fd00::/200"`),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := DualStack.ParseRanges(tt.spec)
			checkErr(t, err, tt.errIs, tt.errs...)
			if diff := cmp.Diff(tt.want, texts(got)); diff != "" {
				t.Errorf("ranges (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStackCheck(t *testing.T) {
	const ipv6 = "IPv6 is not supported"
	tests := []struct {
		addr       netip.Addr
		v4, v6     string // error fragments; "" for none
		v4is, v6is error
	}{
		{addr: ip("10.0.0.1")},
		{addr: ip("fd00::1"), v4: ipv6, v4is: ErrIPv6},
		{addr: ip("::ffff:10.0.0.1"), v4: "write it as 10.0.0.1", v6: "write it as 10.0.0.1", v4is: ErrNotIPv4, v6is: ErrNotIPv4},
		{addr: ip("fe80::1%eth0"), v4: ipv6, v6: "has a zone", v4is: ErrIPv6},
		{addr: netip.Addr{}, v4: "not an IPv4 address: no address", v6: "not an IPv4 address: no address", v4is: ErrNotIPv4, v6is: ErrNotIPv4},
	}
	for _, tt := range tests {
		t.Run(tt.addr.String(), func(t *testing.T) {
			for _, c := range []struct {
				s    Stack
				frag string
				is   error
			}{{IPv4Only, tt.v4, tt.v4is}, {DualStack, tt.v6, tt.v6is}} {
				err := c.s.Check(tt.addr)
				if c.frag == "" {
					checkErr(t, err, nil)
				} else {
					checkErr(t, err, c.is, c.frag)
				}
			}
		})
	}
	if IPv4Only.String() != "IPv4Only" || DualStack.String() != "DualStack" || IPv6.String() != "IPv6" || FamilyOf(netip.Addr{}) != 0 {
		t.Error("names")
	}
}

func TestParseRangeDualStack(t *testing.T) {
	r, warning, err := DualStack.ParseRange(" fd00::1/120 ")
	if err != nil || texts([]Range{r})[0] != "fd00::1-fd00::ff" || warning != "fd00::1/120 has host bits set; using its network fd00::/120" {
		t.Errorf("ParseRange = %v, %q, %v", texts([]Range{r}), warning, err)
	}
	_, _, err = ParseRange("fd00::1/120")
	checkErr(t, err, ErrIPv6, ErrIPv6.Error())
}

func TestRangeString6(t *testing.T) {
	tests := []struct {
		name string
		r    Range
		want string
	}{
		{"inside of a /64", rng("fd00::1", "fd00::ffff:ffff:ffff:ffff"), "fd00::/64"},
		{"inside of a /126", rng("fd00::5", "fd00::7"), "fd00::4/126"},
		{"whole /127", rng("fd00::4", "fd00::5"), "fd00::4/127"},
		{"single", rng("fd00::5", "fd00::5"), "fd00::5/128"},
		{"inside of /0", rng("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "::/0"},
		{"top /127", rng("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
		{"whole /120 is not its CIDR", rng("fd00::", "fd00::ff"), "fd00::-fd00::ff"},
		{"odd pair", rng("fd00::5", "fd00::6"), "fd00::5-fd00::6"},
		{"misaligned", rng("fd00::2", "fd00::7"), "fd00::2-fd00::7"},
		{"IPv4-style /30 inside is no IPv6 CIDR", rng("fd00::1", "fd00::2"), "fd00::1-fd00::2"},
		{"whole space", rng("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"across halves", rng("fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::"), "fd00::ffff:ffff:ffff:ffff-fd00:0:0:1::"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, warnings, err := DualStack.ParseRanges(tt.r.String())
			if err != nil || len(warnings) > 0 || len(back) != 1 || back[0] != tt.r {
				t.Errorf("DualStack.ParseRanges(String()) = %v, %v, %v; want %v", texts(back), warnings, err, texts([]Range{tt.r}))
			}
		})
	}
}

func TestRangeSizeAndContains6(t *testing.T) {
	tests := []struct {
		name    string
		r       Range
		size    uint64
		in, out []string
	}{
		{"one", rng("fd00::5", "fd00::5"), 1, []string{"fd00::5"}, []string{"fd00::4", "fd00::6", "fd00::5%eth0"}},
		{"across halves", rng("fd00::ffff:ffff:ffff:fffe", "fd00:0:0:1::1"), 4, []string{"fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::"}, []string{"fd00:0:0:1::2"}},
		{"a /64 saturates", rng("fd00::", "fd00::ffff:ffff:ffff:ffff"), math.MaxUint64, []string{"fd00::"}, []string{"fd00:0:0:1::"}},
		{"just fits", rng("fd00::", "fd00::ffff:ffff:ffff:fffe"), math.MaxUint64, nil, nil},
		{"whole space", rng("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), math.MaxUint64, []string{"::", "::ffff:10.0.0.1"}, []string{"10.0.0.1"}},
		{"families differ", rng("10.0.0.1", "fd00::1"), 0, nil, []string{"10.0.0.5", "::1"}},
		{"mapped ends are invalid", rng("::ffff:10.0.0.1", "::ffff:10.0.0.9"), 0, nil, []string{"::ffff:10.0.0.5"}},
		{"zoned ends are invalid", rng("fd00::1%eth0", "fd00::9%eth0"), 0, nil, []string{"fd00::5%eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
			for _, s := range tt.in {
				if !tt.r.Contains(ip(s)) {
					t.Errorf("Contains(%s) = false", s)
				}
			}
			for _, s := range tt.out {
				if tt.r.Contains(ip(s)) {
					t.Errorf("Contains(%s) = true", s)
				}
			}
			if want := Family(0); tt.size == 0 && tt.r.Family() != want {
				t.Errorf("Family() = %v for an invalid range", tt.r.Family())
			}
		})
	}
}

func TestPrefixRange6(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"fd00::/64", "fd00::-fd00::ffff:ffff:ffff:ffff"},
		{"fd00::7/126", "fd00::4-fd00::7"},
		{"fd00::7/128", "fd00::7-fd00::7"},
		{"::/0", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"fd00:1:2:3:4::/65", "fd00:1:2:3::-fd00:1:2:3:7fff:ffff:ffff:ffff"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got := PrefixRange(netip.MustParsePrefix(tt.prefix))
			if diff := cmp.Diff(tt.want, texts([]Range{got})[0]); diff != "" {
				t.Errorf("PrefixRange (-want +got):\n%s", diff)
			}
		})
	}
	if got := PrefixRange(netip.Prefix{}); got != (Range{}) {
		t.Errorf("PrefixRange(invalid) = %v", texts([]Range{got}))
	}
}

func TestSubtract6(t *testing.T) {
	tests := []struct {
		name      string
		rs, minus string
		want      []string
	}{
		{"hole in a /64", "fd00::/64", "fd00::5", []string{"fd00::1-fd00::4", "fd00::6-fd00::ffff:ffff:ffff:ffff"}},
		{"a /112 out of a /64", "fd00::/64", "fd00::1:0/112", []string{"fd00::1-fd00::ffff", "fd00::2:0-fd00::ffff:ffff:ffff:ffff"}},
		{"families cut only their own", "10.0.0.0/29, fd00::/125", "10.0.0.2, fd00::2, 10.0.0.0/8", []string{"fd00::1-fd00::1", "fd00::3-fd00::7"}},
		{"holes across halves", "fd00::ffff:ffff:ffff:fff0-fd00:0:0:1::f", "fd00::ffff:ffff:ffff:ffff-fd00:0:0:1::",
			[]string{"fd00::ffff:ffff:ffff:fff0-fd00::ffff:ffff:ffff:fffe", "fd00:0:0:1::1-fd00:0:0:1::f"}},
		{"top of the space", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
			[]string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}},
		{"bottom of the space", "::/127", "::", []string{"::1-::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var minus []Range
			for _, item := range strings.Split(tt.minus, ",") {
				r, _, err := DualStack.ParseRange(item)
				if err != nil {
					t.Fatal(err)
				}
				if p, err := netip.ParsePrefix(strings.TrimSpace(item)); err == nil {
					r = PrefixRange(p) // a hole covers its whole block
				}
				minus = append(minus, r)
			}
			got := Subtract(dualPool(t, "x", tt.rs).Ranges, minus)
			if diff := cmp.Diff(tt.want, texts(got)); diff != "" {
				t.Errorf("Subtract (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSubtractMatchesModel6 compares Subtract with address-by-address
// membership over a stretch of IPv6 addresses across the 64-bit boundary,
// with IPv4 holes mixed in that must cut nothing.
func TestSubtractMatchesModel6(t *testing.T) {
	base := u128{0xfd00 << 48, ^uint64(0) - 31}
	at := func(n uint64) netip.Addr { return base.add(u128{0, n}).addr6() }
	randRanges := func(rnd *rand.Rand, n int) []Range {
		var out []Range
		for range n {
			a, b := rnd.Uint64N(64), rnd.Uint64N(64)
			out = append(out, Range{at(min(a, b)), at(max(a, b))})
		}
		return out
	}
	in := func(rs []Range, a netip.Addr) bool {
		return slices.ContainsFunc(rs, func(r Range) bool { return r.Contains(a) })
	}
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 6))
		rs := randRanges(rnd, 1)
		minus := append(randRanges(rnd, rnd.IntN(5)), rng("0.0.0.0", "255.255.255.255"))
		got := Subtract(rs, minus)
		for n := range uint64(64) {
			if want := in(rs, at(n)) && !in(minus, at(n)); in(got, at(n)) != want {
				t.Fatalf("seed %d: %s in Subtract(%v, %v) = %v: %v, want %v", seed, at(n), texts(rs), texts(minus), texts(got), !want, want)
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].Last.Next().Compare(got[i].First) >= 0 {
				t.Fatalf("seed %d: pieces %v touch or are out of order", seed, texts(got))
			}
		}
	}
}

func TestSpecial6(t *testing.T) {
	tests := []struct {
		addr string
		err  string // "" for none
	}{
		{"::", "special-purpose address: :: is the unspecified address (::/128)"},
		{"::1", "special-purpose address: ::1 is loopback (::1/128)"},
		{"::ffff:10.0.0.1", "special-purpose address: ::ffff:10.0.0.1 is IPv4-mapped (::ffff:0:0/96), IPv4 written as IPv6"},
		{"fe80::1", "special-purpose address: fe80::1 is link-local (fe80::/10)"},
		{"fe80::1%eth0", "special-purpose address: fe80::1%eth0 is link-local (fe80::/10)"},
		{"febf:ffff::1", "link-local (fe80::/10)"},
		{"ff02::12", "special-purpose address: ff02::12 is multicast (ff00::/8)"},
		{"::2", ""}, {"fec0::1", ""}, {"fd00::1", ""}, {"2001:db8::1", ""}, {"2001:4860::8888", ""},
		{"10.0.0.1", ""},
		{"127.0.0.1", "loopback (127.0.0.0/8)"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckSpecial(ip(tt.addr))
			if tt.err == "" {
				checkErr(t, err, nil)
				return
			}
			checkErr(t, err, ErrSpecial, tt.err)
		})
	}
}

func TestCheckUnpooled(t *testing.T) {
	checkErr(t, CheckUnpooled(ip("2001:db8::5")), ErrSpecial,
		"special-purpose address: 2001:db8::5 is in the documentation prefix (2001:db8::/32), handed out only from a pool that lists it")
	for _, a := range []string{"2001:db9::1", "fd00::1", "192.0.2.1", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"} {
		checkErr(t, CheckUnpooled(ip(a)), nil)
	}
}

func TestOverlapsSpecial6(t *testing.T) {
	tests := []struct {
		spec string
		err  string // "" for none
	}{
		{"fd00::/64", ""},
		{"2001:db8::/64", ""}, // inside the documentation prefix: the operator asks for it
		{"2001:db8::/32", ""}, // all of it, but its anycast address
		{"2001:db8:ffff:ffff::-2001:db9::1", "special-purpose address: 2001:db8:ffff:ffff::-2001:db9::1 spans the documentation prefix (2001:db8::/32), handed out only from a range inside it"},
		{"2001::/16", "spans the documentation prefix"},
		{"::/64", "overlaps loopback (::1/128)"},
		{"::/127", "overlaps the unspecified address (::/128)"}, // a /127 keeps its first address
		{"::fffe:ffff:ffff-::1:0:0:0", "overlaps IPv4-mapped (::ffff:0:0/96)"},
		{"fe80::/64", "special-purpose address: fe80::/64 overlaps link-local (fe80::/10)"},
		{"fe00::/8", "overlaps link-local (fe80::/10)"},
		{"ff02::1", "overlaps multicast (ff00::/8)"},
		{"10.0.0.0/8", ""},
		{"224.0.0.1", "overlaps multicast (224.0.0.0/4)"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			r, _, err := DualStack.ParseRange(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			err = OverlapsSpecial(r)
			if tt.err == "" {
				checkErr(t, err, nil)
				return
			}
			checkErr(t, err, ErrSpecial, tt.err)
		})
	}
}

func TestIsCIDREdge6(t *testing.T) {
	rs := dualPool(t, "x", "fd00::/64, fd00:1::/127, fd00:2::5/128, fd00:3::5-fd00:3::7, fd00:4::1-fd00:4::5, 10.0.0.0/30").Ranges
	tests := []struct {
		addr string
		want bool
	}{
		{"fd00::", true},   // the /64's anycast address
		{"fd00::1", false}, // handed out
		{"fd00:0:0:1::", false},
		{"fd00:1::", false}, // a /127 keeps all its addresses
		{"fd00:2::4", false},
		{"fd00:3::4", true}, // a range that is the inside of a /126
		{"fd00:4::", false}, // a range that is no CIDR's inside
		{"10.0.0.0", true}, {"10.0.0.3", true}, {"10.0.0.1", false},
		{"::ffff:10.0.0.0", false}, {"fd00::%eth0", false},
	}
	for _, tt := range tests {
		if got := IsCIDREdge(rs, ip(tt.addr)); got != tt.want {
			t.Errorf("IsCIDREdge(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if !IsCIDREdge(dualPool(t, "all", "::/0").Ranges, ip("::")) {
		t.Error("IsCIDREdge(::/0 inside, ::) = false")
	}
}

func FuzzParseRangesDualStack(f *testing.F) {
	for _, seed := range []string{
		"fd00::/64", "fd00::5/126", "fd00::/127, fd00::2/128", "fd00::1-fd00::9, 10.0.1.0/30", "::/0",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:10.0.0.1", "10.0.0.1-fd00::1", "fe80::1%eth0",
		"fd00::ffff:ffff:ffff:fffe-fd00:0:0:1::1", "fd00::/64, fd00::8:0/112", "2001:db8::/32, 10.0.0.0/24",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ranges, _, err := DualStack.ParseRanges(spec)
		if err != nil {
			if ranges != nil {
				t.Fatalf("ranges %v returned with error %v", texts(ranges), err)
			}
			return
		}
		if len(ranges) == 0 {
			t.Fatal("no ranges and no error")
		}
		for i, r := range ranges {
			if !r.valid() || r.First.Zone() != "" || r.First.Is4In6() || r.Last.Is4In6() {
				t.Fatalf("bad range %v", texts([]Range{r}))
			}
			for _, o := range ranges[:i] {
				if overlap(o, r) {
					t.Fatalf("ranges %v overlap", texts([]Range{o, r}))
				}
			}
			back, warnings, err := DualStack.ParseRanges(r.String())
			if err != nil || len(warnings) > 0 || len(back) != 1 || back[0] != r {
				t.Fatalf("%v does not round-trip via %q: %v, %v, %v", texts([]Range{r}), r, texts(back), warnings, err)
			}
			if r.First.Is4() {
				if v4, _, err := ParseRanges(r.String()); err != nil || v4[0] != r {
					t.Fatalf("IPv4 %v reads differently in IPv4Only: %v, %v", texts([]Range{r}), texts(v4), err)
				}
			}
		}
	})
}
