package ipam

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
