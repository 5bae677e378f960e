package ipam

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRangeString(t *testing.T) {
	tests := []struct {
		name string
		r    Range
		want string
	}{
		{"hosts of a /29", rng("10.0.0.1", "10.0.0.6"), "10.0.0.0/29"},
		{"hosts of a /30", rng("10.0.0.1", "10.0.0.2"), "10.0.0.0/30"},
		{"whole /31", rng("10.0.0.0", "10.0.0.1"), "10.0.0.0/31"},
		{"single address", rng("10.0.0.5", "10.0.0.5"), "10.0.0.5/32"},
		{"hosts of /0", rng("0.0.0.1", "255.255.255.254"), "0.0.0.0/0"},
		{"top /31", rng("255.255.255.254", "255.255.255.255"), "255.255.255.254/31"},
		{"whole /29 is not its CIDR", rng("10.0.0.0", "10.0.0.7"), "10.0.0.0-10.0.0.7"},
		{"misaligned", rng("10.0.0.2", "10.0.0.7"), "10.0.0.2-10.0.0.7"},
		{"misaligned pair", rng("10.0.0.1", "10.0.0.2"), "10.0.0.0/30"},
		{"odd pair", rng("10.0.0.3", "10.0.0.4"), "10.0.0.3-10.0.0.4"},
		{"odd size", rng("10.0.0.1", "10.0.0.9"), "10.0.0.1-10.0.0.9"},
		{"whole space", rng("0.0.0.0", "255.255.255.255"), "0.0.0.0-255.255.255.255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, warnings, err := ParseRanges(tt.r.String())
			if err != nil || len(warnings) > 0 || len(back) != 1 || back[0] != tt.r {
				t.Errorf("ParseRanges(String()) = %v, %v, %v; want %v", texts(back), warnings, err, texts([]Range{tt.r}))
			}
		})
	}
}

func TestRangeSizeAndContains(t *testing.T) {
	tests := []struct {
		name    string
		r       Range
		size    uint64
		in, out []string
	}{
		{"one", rng("10.0.0.5", "10.0.0.5"), 1, []string{"10.0.0.5"}, []string{"10.0.0.4", "10.0.0.6"}},
		{"span of /24s", rng("10.0.0.250", "10.0.1.5"), 12, []string{"10.0.0.250", "10.0.1.0", "10.0.1.5"}, []string{"10.0.0.249", "10.0.1.6"}},
		{"whole space", rng("0.0.0.0", "255.255.255.255"), 1 << 32, []string{"0.0.0.0", "255.255.255.255"}, []string{"::1", "::ffff:10.0.0.1"}},
		{"backwards is empty", rng("10.0.0.9", "10.0.0.1"), 0, nil, []string{"10.0.0.5"}},
		{"zero is empty", Range{}, 0, nil, []string{"0.0.0.0"}},
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
		})
	}
	if (Range{}).Contains(netip.Addr{}) {
		t.Error("zero range contains zero address")
	}
}

type parseCase struct {
	name     string
	spec     string
	want     []string // ranges as first-last
	warnings []string
	errIs    error
	errs     []string // fragments the error must hold
}

func parses(name, spec string, want ...string) parseCase {
	return parseCase{name: name, spec: spec, want: want}
}

func warns(name, spec string, want []string, warnings ...string) parseCase {
	return parseCase{name: name, spec: spec, want: want, warnings: warnings}
}

func fails(name, spec string, is error, fragments ...string) parseCase {
	return parseCase{name: name, spec: spec, errIs: is, errs: fragments}
}

const ipv6Reason = "IPv6 is not supported: kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':')"

func TestParseRanges(t *testing.T) {
	tests := []parseCase{
		parses("/24 drops network and broadcast", "10.0.0.0/24", "10.0.0.1-10.0.0.254"),
		parses("/29", "10.0.0.0/29", "10.0.0.1-10.0.0.6"),
		parses("/30 keeps two", "10.0.0.4/30", "10.0.0.5-10.0.0.6"),
		parses("/31 keeps both", "10.0.0.4/31", "10.0.0.4-10.0.0.5"),
		parses("/32 keeps its address", "10.0.0.4/32", "10.0.0.4-10.0.0.4"),
		parses("/8", "10.0.0.0/8", "10.0.0.1-10.255.255.254"),
		parses("/0", "0.0.0.0/0", "0.0.0.1-255.255.255.254"),
		parses("range is inclusive", "10.0.0.10-10.0.0.20", "10.0.0.10-10.0.0.20"),
		parses("range of one", "10.0.0.10-10.0.0.10", "10.0.0.10-10.0.0.10"),
		parses("range across /24s", "10.0.0.250-10.0.1.5", "10.0.0.250-10.0.1.5"),
		parses("bare address", "10.0.0.7", "10.0.0.7-10.0.0.7"),
		parses("mixed list with whitespace", " 10.0.0.0/30 ,10.0.1.5 - 10.0.1.9\t, 10.0.2.1 ",
			"10.0.0.1-10.0.0.2", "10.0.1.5-10.0.1.9", "10.0.2.1-10.0.2.1"),
		parses("order is kept", "10.0.2.0/31, 10.0.1.0/31", "10.0.2.0-10.0.2.1", "10.0.1.0-10.0.1.1"),
		parses("adjacent ranges do not overlap", "10.0.0.0/31, 10.0.0.2/31, 10.0.0.4-10.0.0.9",
			"10.0.0.0-10.0.0.1", "10.0.0.2-10.0.0.3", "10.0.0.4-10.0.0.9"),
		parses("a /30's broadcast address is free to list", "10.0.0.0/30, 10.0.0.3",
			"10.0.0.1-10.0.0.2", "10.0.0.3-10.0.0.3"),
		warns("host bits set", "10.210.38.100/26", []string{"10.210.38.65-10.210.38.126"},
			"10.210.38.100/26 has host bits set; using its network 10.210.38.64/26"),
		warns("host bits in two items", "10.0.0.1/24, 10.0.1.1/31", []string{"10.0.0.1-10.0.0.254", "10.0.1.0-10.0.1.1"},
			"10.0.0.1/24 has host bits set; using its network 10.0.0.0/24",
			"10.0.1.1/31 has host bits set; using its network 10.0.1.0/31"),

		fails("empty", "", nil, "no addresses given"),
		fails("blank", " \t ", nil, "no addresses given"),
		fails("empty item", "10.0.0.0/24,,10.0.1.0/24", nil, `item 2 "": empty item`),
		fails("trailing comma", "10.0.0.0/24,", nil, `item 2 "": empty item`),
		fails("garbage", "pool-of-ips", nil, `item 1 "pool-of-ips": range start: invalid address "pool": unable to parse IP`),
		fails("word", "foo", nil, `item 1 "foo": want an IPv4 CIDR`),
		fails("bad octet", "10.0.0.300", nil, `item 1 "10.0.0.300"`, "IPv4 field has value >255"),
		fails("bad prefix length", "10.0.0.0/33", nil, `item 1 "10.0.0.0/33": invalid CIDR: prefix length out of range`),
		fails("missing range end", "10.0.0.1-", nil, `item 1 "10.0.0.1-": range end: invalid address ""`),
		fails("backwards range", "10.0.0.9-10.0.0.1", nil, `item 1 "10.0.0.9-10.0.0.1": range start 10.0.0.9 is after its end 10.0.0.1`),
		fails("IPv6 CIDR", "2001:db8::/64", ErrIPv6, `item 1 "2001:db8::/64": `+ipv6Reason),
		fails("IPv6 address", "10.0.0.0/24, 2001:db8::1", ErrIPv6, `item 2 "2001:db8::1": `+ipv6Reason),
		fails("IPv6 range", "fe80::1-fe80::9", ErrIPv6, `item 1 "fe80::1-fe80::9": range start: `+ipv6Reason),
		fails("IPv4-mapped address", "::ffff:10.0.0.1", ErrNotIPv4, "::ffff:10.0.0.1 is IPv4-mapped IPv6; write it as 10.0.0.1"),
		fails("IPv4-mapped CIDR", "::ffff:10.0.0.0/104", ErrNotIPv4, "write it as 10.0.0.0"),
		fails("IPv4-mapped range end", "10.0.0.1-::ffff:10.0.0.9", ErrNotIPv4, "range end", "write it as 10.0.0.9"),
		fails("overlapping CIDRs", "10.0.0.0/24, 10.0.0.128/25", nil, `item 1 "10.0.0.0/24" overlaps item 2 "10.0.0.128/25"`),
		fails("overlap named in input order", "10.0.0.128/25, 10.0.0.0/24", nil, `item 1 "10.0.0.128/25" overlaps item 2 "10.0.0.0/24"`),
		fails("range overlaps address", "10.0.0.1-10.0.0.10, 10.0.0.10", nil, `item 1 "10.0.0.1-10.0.0.10" overlaps item 2 "10.0.0.10"`),
		fails("same item twice", "10.0.0.0/24, 10.0.0.0/24", nil, `item 1 "10.0.0.0/24" overlaps item 2 "10.0.0.0/24"`),
		fails("overlap hidden behind a long range", "10.0.0.0/16, 10.0.1.0/24, 10.0.2.0/24", nil,
			`item 1 "10.0.0.0/16" overlaps item 2 "10.0.1.0/24"`, `item 1 "10.0.0.0/16" overlaps item 3 "10.0.2.0/24"`),
		fails("every problem reported", "foo, 2001:db8::/32, 10.0.0.9-10.0.0.1, 10.0.0.0/24, 10.0.0.5, ,", nil,
			`item 1 "foo"`, `item 2 "2001:db8::/32"`, `item 3 "10.0.0.9-10.0.0.1"`,
			`item 4 "10.0.0.0/24" overlaps item 5 "10.0.0.5"`, `item 6 "": empty item`, `item 7 "": empty item`),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := ParseRanges(tt.spec)
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

func TestParseRange(t *testing.T) {
	tests := []struct {
		name, item string
		want       string // first-last
		warning    string
		errIs      error
		err        string
	}{
		{name: "CIDR", item: " 10.0.0.0/29 ", want: "10.0.0.1-10.0.0.6"},
		{name: "range", item: "10.0.0.1 - 10.0.0.9", want: "10.0.0.1-10.0.0.9"},
		{name: "address", item: "10.0.0.1", want: "10.0.0.1-10.0.0.1"},
		{name: "host bits", item: "10.0.0.5/30", want: "10.0.0.5-10.0.0.6",
			warning: "10.0.0.5/30 has host bits set; using its network 10.0.0.4/30"},
		{name: "IPv6", item: "fd00::/64", errIs: ErrIPv6, err: ErrIPv6.Error()},
		{name: "empty", item: " ", err: "empty item"},
		{name: "list", item: "10.0.0.1, 10.0.0.2", err: `want an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address: unexpected character (at ",`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, warning, err := ParseRange(tt.item)
			if tt.err != "" {
				checkErr(t, err, tt.errIs, tt.err)
				return
			}
			checkErr(t, err, nil)
			if diff := cmp.Diff(tt.want, texts([]Range{r})[0]); diff != "" {
				t.Errorf("range (-want +got):\n%s", diff)
			}
			if warning != tt.warning {
				t.Errorf("warning = %q, want %q", warning, tt.warning)
			}
		})
	}
}

func TestPrefixRange(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"10.0.0.0/24", "10.0.0.0-10.0.0.255"},
		{"10.0.0.7/30", "10.0.0.4-10.0.0.7"},
		{"10.0.0.7/32", "10.0.0.7-10.0.0.7"},
		{"0.0.0.0/0", "0.0.0.0-255.255.255.255"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got := PrefixRange(netip.MustParsePrefix(tt.prefix))
			if diff := cmp.Diff(tt.want, texts([]Range{got})[0]); diff != "" {
				t.Errorf("PrefixRange (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubtract(t *testing.T) {
	tests := []struct {
		name      string
		rs, minus string // ParseRanges lists; minus may be empty
		want      []string
	}{
		{"nothing to remove", "10.0.0.0/29", "", []string{"10.0.0.1-10.0.0.6"}},
		{"hole in the middle", "10.0.0.0/29", "10.0.0.3", []string{"10.0.0.1-10.0.0.2", "10.0.0.4-10.0.0.6"}},
		{"hole at each end", "10.0.0.0/29", "10.0.0.1, 10.0.0.6", []string{"10.0.0.2-10.0.0.5"}},
		{"hole wider than the range", "10.0.0.0/29", "10.0.0.0-10.0.0.9", nil},
		{"holes outside", "10.0.0.0/29", "10.0.1.0/24, 9.0.0.0/8", []string{"10.0.0.1-10.0.0.6"}},
		{"overlapping and touching holes merge", "10.0.0.0/24", "10.0.0.20-10.0.0.30, 10.0.0.10-10.0.0.25, 10.0.0.31",
			[]string{"10.0.0.1-10.0.0.9", "10.0.0.32-10.0.0.254"}},
		{"several ranges keep their order", "10.0.2.0/30, 10.0.1.0/29", "10.0.1.2, 10.0.2.1",
			[]string{"10.0.2.2-10.0.2.2", "10.0.1.1-10.0.1.1", "10.0.1.3-10.0.1.6"}},
		{"top of the space", "255.255.255.254/31", "255.255.255.255", []string{"255.255.255.254-255.255.255.254"}},
		{"bottom of the space", "0.0.0.0/31", "0.0.0.0", []string{"0.0.0.1-0.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Items one by one, since ParseRanges refuses overlaps.
			var minus []Range
			for _, item := range strings.Split(tt.minus, ",") {
				if strings.TrimSpace(item) != "" {
					minus = append(minus, mustRanges(t, item)...)
				}
			}
			got := Subtract(mustRanges(t, tt.rs), minus)
			if diff := cmp.Diff(tt.want, texts(got)); diff != "" {
				t.Errorf("Subtract (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubtractDropsInvalidRanges(t *testing.T) {
	got := Subtract([]Range{rng("10.0.0.9", "10.0.0.1"), {}, rng("10.0.0.1", "10.0.0.3")}, []Range{{}, rng("10.0.0.2", "10.0.0.2")})
	if diff := cmp.Diff([]string{"10.0.0.1-10.0.0.1", "10.0.0.3-10.0.0.3"}, texts(got)); diff != "" {
		t.Errorf("Subtract (-want +got):\n%s", diff)
	}
}

// TestSubtractMatchesModel compares Subtract with address-by-address
// membership over a small stretch of addresses.
func TestSubtractMatchesModel(t *testing.T) {
	base := u32(ip("10.0.0.0"))
	randRanges := func(rnd *rand.Rand, n int) []Range {
		var out []Range
		for range n {
			a, b := base+rnd.Uint32N(64), base+rnd.Uint32N(64)
			out = append(out, Range{addr(min(a, b)), addr(max(a, b))})
		}
		return out
	}
	in := func(rs []Range, n uint32) bool {
		return slices.ContainsFunc(rs, func(r Range) bool { return r.Contains(addr(n)) })
	}
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 2))
		rs := randRanges(rnd, 1) // one range: Subtract keeps the order of rs, pieces ascending
		minus := randRanges(rnd, rnd.IntN(5))
		got := Subtract(rs, minus)
		for n := base; n < base+64; n++ {
			if want := in(rs, n) && !in(minus, n); in(got, n) != want {
				t.Fatalf("seed %d: %s in Subtract(%v, %v) = %v: %v, want %v", seed, addr(n), texts(rs), texts(minus), texts(got), !want, want)
			}
		}
		for i := 1; i < len(got); i++ {
			if uint64(u32(got[i-1].Last))+1 >= uint64(u32(got[i].First)) {
				t.Fatalf("seed %d: pieces %v touch or are out of order", seed, texts(got))
			}
		}
	}
}
