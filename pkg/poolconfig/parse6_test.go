package poolconfig

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

const dualExample = `
pools:
  - name: public
    addresses:
      - 10.210.38.64/26
      - fd00:38::/64
      - fd00:39::10-fd00:39::20
    namespaces: [team-a]
  - name: v6-only
    addresses: [fd00:50::/120, "fd00:51::7"]
  - name: small
    addresses: [fd00:60::/127, fd00:61::/128, fd00:62::4/126]
reserved:
  - fd00:38::/112
  - fd00:39::15
  - 10.210.38.70
`

func dualConfig(pools []Pool, reserved ...ipam.Range) *Config {
	return &Config{Pools: pools, Reserved: reserved, Stack: ipam.DualStack}
}

func TestParseDualStackAccepts(t *testing.T) {
	tests := []acceptCase{
		accepts("both families in one pool, IPv6 only, /127, /128 and /126", dualExample, dualConfig(
			[]Pool{
				serving(pool("public", rng("10.210.38.65", "10.210.38.126"), rng("fd00:38::1", "fd00:38::ffff:ffff:ffff:ffff"),
					rng("fd00:39::10", "fd00:39::20")), "team-a"),
				pool("v6-only", rng("fd00:50::1", "fd00:50::ff"), rng("fd00:51::7", "fd00:51::7")),
				pool("small", rng("fd00:60::", "fd00:60::1"), rng("fd00:61::", "fd00:61::"), rng("fd00:62::5", "fd00:62::7")),
			},
			rng("fd00:38::", "fd00:38::ffff"), rng("fd00:39::15", "fd00:39::15"), rng("10.210.38.70", "10.210.38.70"),
		)),
		accepts("IPv4 alone reads as Parse reads it", example, dualConfig(
			[]Pool{
				serving(pool("public", rng("10.210.38.65", "10.210.38.126"), rng("10.210.39.10", "10.210.39.20")), "team-a", "team-b"),
				pool("private", rng("192.168.50.1", "192.168.50.254")),
			},
			rng("10.210.38.70", "10.210.38.70"),
		)),
		accepts("the documentation prefix, when a range lies inside it",
			"pools: [{name: doc, addresses: ['2001:db8::/64', '2001:db8:1::5-2001:db8:1::9']}]",
			dualConfig([]Pool{pool("doc", rng("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff"), rng("2001:db8:1::5", "2001:db8:1::9"))})),
		accepts("host bits and avoidBuggyIPs on IPv6 alone are warned about, naming the pool",
			"pools: [{name: a, addresses: ['fd00::5/64'], avoidBuggyIPs: true}, {name: b, addresses: ['fd01::/64', 10.0.0.0/30], avoidBuggyIPs: true}]\nreserved: ['fd02::1/64']",
			dualConfig([]Pool{
				avoiding(pool("a", rng("fd00::1", "fd00::ffff:ffff:ffff:ffff"))),
				avoiding(pool("b", rng("fd01::1", "fd01::ffff:ffff:ffff:ffff"), rng("10.0.0.1", "10.0.0.2"))),
			}, rng("fd02::", "fd02::ffff:ffff:ffff:ffff")),
			`pool "a": fd00::5/64 has host bits set; using its network fd00::/64`,
			`pool "a": avoidBuggyIPs applies to IPv4 addresses only; this pool has none`,
			"reserved: fd02::1/64 has host bits set; using its network fd02::/64"),
		accepts("adjacent IPv6 pools do not overlap",
			"pools: [{name: a, addresses: ['fd00::/127']}, {name: b, addresses: ['fd00::2-fd00::3']}]",
			dualConfig([]Pool{pool("a", rng("fd00::", "fd00::1")), pool("b", rng("fd00::2", "fd00::3"))})),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := ParseDualStack([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseDualStack: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, addrs); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDualStackRefuses(t *testing.T) {
	const mapped = `not an IPv4 address: ::ffff:10.0.0.1 is IPv4-mapped IPv6; write it as 10.0.0.1`
	tests := []refuseCase{
		refuses("link-local", "pools: [{name: a, addresses: ['fe80::/64']}]",
			`pool "a": address "fe80::/64": special-purpose address: fe80::/64 overlaps link-local (fe80::/10); no node may announce it`).matching(ipam.ErrSpecial),
		refuses("multicast", "pools: [{name: a, addresses: ['ff02::12']}]",
			`pool "a": address "ff02::12": special-purpose address: ff02::12/128 overlaps multicast (ff00::/8); no node may announce it`),
		refuses("loopback and unspecified", "pools: [{name: a, addresses: ['::1', '::/127']}]",
			`pool "a": address "::1": special-purpose address: ::1/128 overlaps loopback (::1/128); no node may announce it`,
			`pool "a": address "::/127": special-purpose address: ::/127 overlaps the unspecified address (::/128); no node may announce it`),
		refuses("spanning the documentation prefix", "pools: [{name: a, addresses: ['2001::/16']}]",
			`pool "a": address "2001::/16": special-purpose address: 2001::/16 spans the documentation prefix (2001:db8::/32), handed out only from a range inside it; no node may announce it`),
		refuses("IPv4-mapped says how to write it", "pools: [{name: a, addresses: ['::ffff:10.0.0.1']}]",
			`pool "a": address "::ffff:10.0.0.1": `+mapped).matching(ipam.ErrNotIPv4),
		refuses("range across families", "pools: [{name: a, addresses: ['10.0.0.1-fd00::1']}]",
			`pool "a": address "10.0.0.1-fd00::1": range start 10.0.0.1 is IPv4 but its end fd00::1 is IPv6: give both ends in one family`),
		refuses("zone", "pools: [{name: a, addresses: ['fd00::1%eth0']}]",
			`pool "a": address "fd00::1%eth0": fd00::1%eth0 has a zone: give the address without %eth0`),
		refuses("bad IPv6", "pools: [{name: a, addresses: ['fd00::/129', 'fd00::g']}]",
			`pool "a": address "fd00::/129": invalid CIDR: prefix length out of range`,
			`pool "a": address "fd00::g": want a CIDR (10.0.0.0/24, fd00::/120), range (10.0.0.10-10.0.0.20, fd00::10-fd00::20) or address: each colon-separated field must have at least one digit (at "g")`),
		refuses("overlapping IPv6 pools name both", "pools: [{name: a, addresses: ['fd00::/64']}, {name: b, addresses: [10.0.0.0/24, 'fd00::8:0/112']}]",
			`pool "a" address fd00::/64 overlaps pool "b" address fd00::8:0/112`),
		refuses("pool left empty by IPv6 reservations", "pools: [{name: a, addresses: ['fd00::/120']}, {name: b, addresses: [10.0.0.1]}]\nreserved: ['fd00::/120']",
			`pool "a": every address is reserved, leaving none to hand out`),
		refuses("bad reserved entries", "pools: [{name: a, addresses: [10.0.0.1]}]\nreserved: ['::ffff:10.0.0.1', 'fd00::/200', '10.0.0.1-fd00::1']",
			`reserved "::ffff:10.0.0.1": `+mapped,
			`reserved "fd00::/200": invalid CIDR: prefix length out of range`,
			`reserved "10.0.0.1-fd00::1": range start 10.0.0.1 is IPv4 but its end fd00::1 is IPv6: give both ends in one family`),
		refuses("every problem at once, both families", `
pools:
  - name: Mixed_1
    addresses: [10.0.0.0/24, 'fd00::/64']
  - addresses: ['fe80::1']
  - name: c
    addresses: ['fd00::1:0/112', 10.0.0.128/25]
reserved: ['fd00::x']
`,
			`pool "Mixed_1": name is not a DNS-1123 label: `+notLabel("Mixed_1"),
			`pool #2: name is required`,
			`pool #2: address "fe80::1": special-purpose address: fe80::1/128 overlaps link-local (fe80::/10); no node may announce it`,
			`pool "Mixed_1" address 10.0.0.0/24 overlaps pool "c" address 10.0.0.128/25`,
			`pool "Mixed_1" address fd00::/64 overlaps pool "c" address fd00::1:0/112`,
			`reserved "fd00::x": want a CIDR (10.0.0.0/24, fd00::/120), range (10.0.0.10-10.0.0.20, fd00::10-fd00::20) or address: each colon-separated field must have at least one digit (at "x")`),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParseDualStack([]byte(tt.yaml))
			if got != nil {
				t.Errorf("ParseDualStack gave a config with its error")
			}
			if diff := cmp.Diff(tt.want, messages(err)); diff != "" {
				t.Errorf("error messages (-want +got):\n%s", diff)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error does not match %v", tt.is)
			}
		})
	}
}

// TestParseStillRefusesIPv6 pins the provider's refusal beside the new
// reader: the same file, read by Parse, says IPv6 is not supported.
func TestParseStillRefusesIPv6(t *testing.T) {
	_, _, err := Parse([]byte(dualExample))
	if !errors.Is(err, ipam.ErrIPv6) {
		t.Fatalf("Parse(dualExample) = %v; want ipam.ErrIPv6", err)
	}
	want := []string{
		`pool "public": address "fd00:38::/64": ` + ipv6Reason,
		`pool "public": address "fd00:39::10-fd00:39::20": range start: ` + ipv6Reason,
		`pool "v6-only": address "fd00:50::/120": ` + ipv6Reason,
		`pool "v6-only": address "fd00:51::7": ` + ipv6Reason,
		`pool "small": address "fd00:60::/127": ` + ipv6Reason,
		`pool "small": address "fd00:61::/128": ` + ipv6Reason,
		`pool "small": address "fd00:62::4/126": ` + ipv6Reason,
		`reserved "fd00:38::/112": ` + ipv6Reason,
		`reserved "fd00:39::15": ` + ipv6Reason,
	}
	if diff := cmp.Diff(want, messages(err)); diff != "" {
		t.Errorf("error messages (-want +got):\n%s", diff)
	}
}

func TestDualStackPoolsAllocate(t *testing.T) {
	cfg, _, err := ParseDualStack([]byte(dualExample))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.IPAMPools()
	want := []ipam.Pool{
		{Name: "public", Ranges: []ipam.Range{rng("10.210.38.65", "10.210.38.69"), rng("10.210.38.71", "10.210.38.126"),
			rng("fd00:38::1:0", "fd00:38::ffff:ffff:ffff:ffff"), rng("fd00:39::10", "fd00:39::14"), rng("fd00:39::16", "fd00:39::20")}},
		{Name: "v6-only", Ranges: []ipam.Range{rng("fd00:50::1", "fd00:50::ff"), rng("fd00:51::7", "fd00:51::7")}},
		{Name: "small", Ranges: []ipam.Range{rng("fd00:60::", "fd00:60::1"), rng("fd00:61::", "fd00:61::"), rng("fd00:62::5", "fd00:62::7")}},
	}
	if diff := cmp.Diff(want, got, addrs); diff != "" {
		t.Fatalf("IPAMPools (-want +got):\n%s", diff)
	}
	if _, err := ipam.NewAllocator(got...); !errors.Is(err, ipam.ErrNotIPv4) {
		t.Errorf("an IPv4Only allocator took IPv6 pools: %v", err)
	}
	a, err := cfg.Stack.NewAllocator(got...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pool string
		f    ipam.Family
		want string
	}{
		{"public", ipam.IPv6, "fd00:38::1:0"}, // the reserved /112 is carved out
		{"public", ipam.IPv4, "10.210.38.65"},
		{"v6-only", ipam.IPv6, "fd00:50::1"},
		{"small", ipam.IPv6, "fd00:60::"}, // a /127 gives its first address
	} {
		if got, err := a.AllocateFamily(tt.pool, tt.f); err != nil || got != ip(tt.want) {
			t.Errorf("AllocateFamily(%q, %s) = %v, %v; want %s", tt.pool, tt.f, got, err, tt.want)
		}
	}
	if _, err := a.AllocateFamily("v6-only", ipam.IPv4); !errors.Is(err, ipam.ErrExhausted) {
		t.Errorf("AllocateFamily(v6-only, IPv4) = %v; want ErrExhausted", err)
	}
	if _, err := cfg.Stack.Repool([]netip.Addr{ip("fd00:50::1")}, got...); err != nil {
		t.Errorf("Repool: %v", err)
	}
}

func TestPermitsRequestDualStack(t *testing.T) {
	cfg, _, err := ParseDualStack([]byte(dualExample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, namespace, pool, addr string
		err                         string
		is                          error
	}{
		{name: "IPv6 outside every pool", namespace: "c", addr: "fd99::1"},
		{name: "IPv6 in a pool serving every namespace", namespace: "c", addr: "fd00:50::9"},
		{name: "IPv6 in its namespace's pool", namespace: "team-a", addr: "fd00:38::1:1"},
		{name: "IPv4 in a mixed pool", namespace: "team-a", addr: "10.210.38.66"},
		{name: "IPv6 in another namespace's pool", namespace: "c", addr: "fd00:38::1:1", is: ErrNotServed,
			err: `address fd00:38::1:1 is in pool "public", which serves namespaces [team-a] only`},
		{name: "IPv6 reserved", namespace: "team-a", addr: "fd00:38::5", is: ErrReserved,
			err: "address fd00:38::5 is reserved: the pools file keeps it from every Service"},
		{name: "IPv6 in a pool other than the named one", namespace: "c", pool: "small", addr: "fd00:50::9", is: ipam.ErrNotInPool,
			err: `address fd00:50::9 is in pool "v6-only", but annotation k8s.co/keepalived-pool names pool "small"`},
		{name: "IPv4-mapped IPv6 still refused", namespace: "c", addr: "::ffff:10.210.38.66", is: ipam.ErrNotIPv4,
			err: "address ::ffff:10.210.38.66: not an IPv4 address: write it as 10.210.38.66"},
		{name: "zoned", namespace: "c", addr: "fd00:50::9%eth0",
			err: "address fd00:50::9%eth0: fd00:50::9%eth0 has a zone: give the address without %eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, cfg.PermitsRequest(tt.namespace, tt.pool, ip(tt.addr)), tt.err, tt.is)
		})
	}
	checkErr(t, cfg.PermitsRequest("a", "", netip.Addr{}), "no address: not an IPv4 address", ipam.ErrNotIPv4)
}

func TestFromCIDRDualStack(t *testing.T) {
	cfg, warnings, err := FromCIDRDualStack("10.210.38.100/30, fd00:38::5/126, fd00:39::1-fd00:39::9")
	if err != nil {
		t.Fatal(err)
	}
	want := dualConfig([]Pool{pool("default", rng("10.210.38.101", "10.210.38.102"), rng("fd00:38::5", "fd00:38::7"), rng("fd00:39::1", "fd00:39::9"))})
	if diff := cmp.Diff(want, cfg, addrs); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"fd00:38::5/126 has host bits set; using its network fd00:38::4/126"}, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	_, _, err = FromCIDRDualStack("fe80::/64")
	checkErr(t, err, "special-purpose address: fe80::/64 overlaps link-local (fe80::/10); no node may announce it", ipam.ErrSpecial)
	_, _, err = FromCIDRDualStack("::ffff:10.0.0.0/104")
	checkErr(t, err, `item 1 "::ffff:10.0.0.0/104": not an IPv4 address: ::ffff:10.0.0.0 is IPv4-mapped IPv6; write it as 10.0.0.0`, ipam.ErrNotIPv4)
	if _, _, err := FromCIDRDualStack("2001:db8:5::/64"); err != nil {
		t.Errorf("FromCIDRDualStack(documentation /64): %v", err)
	}
}

func TestLoadDualStack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pools.yaml")
	if err := os.WriteFile(path, []byte(dualExample), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadDualStack(path)
	if err != nil || len(cfg.Pools) != 3 || cfg.Stack != ipam.DualStack {
		t.Fatalf("LoadDualStack = %v, %v", cfg, err)
	}
	if _, _, err := Load(path); !errors.Is(err, ipam.ErrIPv6) {
		t.Errorf("Load = %v; want ipam.ErrIPv6", err)
	}
}

func TestIPAMPoolsWithout(t *testing.T) {
	cfg, _, err := ParseDualStack([]byte(`
pools:
  - {name: a, addresses: [10.96.0.0/11, 'fd00:96::/64']}
  - {name: b, addresses: ['fd00:10::/120']}
reserved: [10.96.0.9]
`))
	if err != nil {
		t.Fatal(err)
	}
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:96::/112")}
	got, err := cfg.IPAMPoolsWithout(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	want := []ipam.Pool{
		{Name: "a", Ranges: []ipam.Range{rng("10.112.0.0", "10.127.255.254"), rng("fd00:96::1:0", "fd00:96::ffff:ffff:ffff:ffff")}},
		{Name: "b", Ranges: []ipam.Range{rng("fd00:10::1", "fd00:10::ff")}},
	}
	if diff := cmp.Diff(want, got, addrs); diff != "" {
		t.Errorf("IPAMPoolsWithout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(cfg.IPAMPools(), must(cfg.IPAMPoolsWithout(nil)), addrs); diff != "" {
		t.Errorf("IPAMPoolsWithout(nil) differs from IPAMPools (-want +got):\n%s", diff)
	}

	_, err = cfg.IPAMPoolsWithout([]netip.Prefix{netip.MustParsePrefix("fd00:10::/64"), netip.MustParsePrefix("10.96.0.0/11")})
	checkErr(t, err, `pool "b": every address it does not reserve is in the cluster's Service CIDRs fd00:10::/64, 10.96.0.0/11, leaving none to hand out`, nil)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func FuzzParseDualStack(f *testing.F) {
	for _, seed := range []string{
		dualExample, example, teams, "",
		"pools: [{name: a, addresses: ['fd00::/64']}, {name: b, addresses: ['fd00::/65']}]",
		"pools: [{name: a, addresses: ['fe80::/64', '::ffff:1.2.3.4', 'fd00::9-fd00::1', '2001::/16']}]\nreserved: ['::/0']",
		"pools:\n- name: a\n  addresses: ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127']\n  avoidBuggyIPs: true\nreserved: ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']",
		"pools: [{name: a, addresses: ['2001:db8::/32', 10.0.0.0/8, '10.1.0.1-fd00::1']}]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := ParseDualStack(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with error %v", err)
			}
			return
		}
		checkAcceptedDual(t, cfg)
	})
}

// checkAcceptedDual is checkAccepted for a DualStack Config.
func checkAcceptedDual(t *testing.T, cfg *Config) {
	t.Helper()
	if len(cfg.Pools) == 0 || cfg.Stack != ipam.DualStack {
		t.Fatalf("accepted %d pools with stack %v", len(cfg.Pools), cfg.Stack)
	}
	seen := map[string]bool{}
	var all []ipam.Range
	for _, p := range cfg.Pools {
		if seen[p.Name] || len(validation.IsDNS1123Label(p.Name)) > 0 || len(p.Ranges) == 0 {
			t.Fatalf("accepted pool %q (duplicate: %v) with %d ranges", p.Name, seen[p.Name], len(p.Ranges))
		}
		seen[p.Name] = true
		all = append(all, p.Ranges...)
	}
	for i, r := range all {
		if r.Family() == 0 {
			t.Fatalf("accepted range %v-%v", r.First, r.Last)
		}
		if err := ipam.OverlapsSpecial(r); err != nil {
			t.Fatalf("accepted a special range: %v", err)
		}
		for _, o := range all[:i] {
			if r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0 {
				t.Fatalf("accepted overlapping ranges %v and %v", o, r)
			}
		}
	}
	for _, r := range cfg.Reserved {
		if r.Family() == 0 {
			t.Fatalf("accepted reserved range %v-%v", r.First, r.Last)
		}
	}
	a, err := cfg.Stack.NewAllocator(cfg.IPAMPools()...)
	if err != nil {
		t.Fatalf("accepted pools the allocator refuses: %v", err)
	}
	for _, p := range cfg.Pools {
		for _, f := range []ipam.Family{ipam.IPv4, ipam.IPv6} {
			got, err := a.AllocateFamily(p.Name, f)
			switch {
			case err == nil && (ipam.FamilyOf(got) != f || cfg.IsReserved(got) || ipam.CheckSpecial(got) != nil):
				t.Fatalf("AllocateFamily(%q, %s) = %s", p.Name, f, got)
			case err != nil && !errors.Is(err, ipam.ErrExhausted):
				t.Fatalf("AllocateFamily(%q, %s): %v", p.Name, f, err)
			}
		}
	}
	checkSelection(t, cfg)
}
