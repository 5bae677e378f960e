package poolconfig

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

const example = `
pools:
  - name: public
    addresses:
      - 10.210.38.64/26
      - 10.210.39.10-10.210.39.20
    namespaces: [team-a, team-b]
    autoAssign: true
    avoidBuggyIPs: false
  - name: private
    addresses: [192.168.50.0/24]
reserved:
  - 10.210.38.70
`

type acceptCase struct {
	name     string
	yaml     string
	want     *Config
	warnings []string
}

func accepts(name, yaml string, want *Config, warnings ...string) acceptCase {
	return acceptCase{name, yaml, want, warnings}
}

func TestParseAccepts(t *testing.T) {
	tests := []acceptCase{
		accepts("the documented example", example, &Config{
			Pools: []Pool{
				serving(pool("public", rng("10.210.38.65", "10.210.38.126"), rng("10.210.39.10", "10.210.39.20")), "team-a", "team-b"),
				pool("private", rng("192.168.50.1", "192.168.50.254")),
			},
			Reserved: []ipam.Range{rng("10.210.38.70", "10.210.38.70")},
		}),
		accepts("defaults: auto-assign, every namespace, .0 and .255 allowed",
			"pools: [{name: a, addresses: [10.0.0.0/30]}]",
			&Config{Pools: []Pool{pool("a", rng("10.0.0.1", "10.0.0.2"))}}),
		accepts("empty namespaces mean every namespace",
			"pools: [{name: a, addresses: [10.0.0.0/30], namespaces: []}]",
			&Config{Pools: []Pool{pool("a", rng("10.0.0.1", "10.0.0.2"))}}),
		accepts("manual pool avoiding buggy addresses",
			"pools: [{name: a, addresses: [10.0.0.9], autoAssign: false, avoidBuggyIPs: true}]",
			&Config{Pools: []Pool{avoiding(manual(pool("a", rng("10.0.0.9", "10.0.0.9"))))}}),
		accepts("adjacent pools do not overlap",
			"pools: [{name: a, addresses: [10.0.0.0/31]}, {name: b, addresses: [10.0.0.2-10.0.0.3]}]",
			&Config{Pools: []Pool{pool("a", rng("10.0.0.0", "10.0.0.1")), pool("b", rng("10.0.0.2", "10.0.0.3"))}}),
		accepts("reserved entries of every kind, inside pools or not, overlapping each other",
			"pools: [{name: a, addresses: [10.0.0.0/24]}]\nreserved: [10.0.0.5, 10.0.0.8-10.0.0.9, 10.0.0.16/28, 10.0.0.20, 192.168.0.0/16]",
			&Config{
				Pools: []Pool{pool("a", rng("10.0.0.1", "10.0.0.254"))},
				Reserved: []ipam.Range{rng("10.0.0.5", "10.0.0.5"), rng("10.0.0.8", "10.0.0.9"), rng("10.0.0.16", "10.0.0.31"),
					rng("10.0.0.20", "10.0.0.20"), rng("192.168.0.0", "192.168.255.255")},
			}),
		accepts("host bits are warned about, naming the pool",
			"pools: [{name: a, addresses: [10.0.0.5/30]}]\nreserved: [10.0.1.9/24]",
			&Config{Pools: []Pool{pool("a", rng("10.0.0.5", "10.0.0.6"))}, Reserved: []ipam.Range{rng("10.0.1.0", "10.0.1.255")}},
			`pool "a": 10.0.0.5/30 has host bits set; using its network 10.0.0.4/30`,
			"reserved: 10.0.1.9/24 has host bits set; using its network 10.0.1.0/24"),
		accepts("JSON is YAML too",
			`{"pools": [{"name": "a", "addresses": ["10.0.0.1"], "autoAssign": false}]}`,
			&Config{Pools: []Pool{manual(pool("a", rng("10.0.0.1", "10.0.0.1")))}}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
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

type refuseCase struct {
	name string
	yaml string
	want []string // every message, in order
	is   error
}

func refuses(name, yaml string, want ...string) refuseCase {
	return refuseCase{name: name, yaml: yaml, want: want}
}

func (c refuseCase) matching(is error) refuseCase {
	c.is = is
	return c
}

func TestParseRefuses(t *testing.T) {
	tests := []refuseCase{
		refuses("empty file", "", "no pools: list at least one under pools"),
		refuses("no pools", "pools: []\nreserved: [10.0.0.1]", "no pools: list at least one under pools"),
		refuses("invalid YAML", "pools: [", "invalid YAML: line 1: did not find expected node content"),
		refuses("repeated key", "pools:\n- name: a\n  addresses: [10.0.0.1]\n  name: b\n",
			`line 4: key "name" already set in map`),
		refuses("unknown top-level field", "pool: []\npools: [{name: a, addresses: [10.0.0.1]}]",
			`unknown field "pool" (want pools, reserved)`),
		refuses("unknown pool field", "pools: [{name: a, addresses: [10.0.0.1], namespace: [x]}]",
			`pool "a": unknown field "namespace" (want name, addresses, namespaces, autoAssign, avoidBuggyIPs)`),
		refuses("file is not a mapping", "- a", "got a list, want a mapping (with pools, reserved)"),
		refuses("pools is not a list", "pools: 3", "pools: got a number, want a list"),
		refuses("pool is not a mapping", "pools: [public]",
			"pool #1: got text, want a mapping (with name, addresses, namespaces, autoAssign, avoidBuggyIPs)"),
		refuses("addresses is not a list", "pools: [{name: a, addresses: 10.0.0.0/24}]", `pool "a": addresses: got text, want a list`),
		refuses("address is not text", "pools: [{name: a, addresses: [[10.0.0.1]]}]", `pool "a": addresses: got a list, want text`),
		refuses("autoAssign is not a boolean", "pools: [{name: a, addresses: [10.0.0.1], autoAssign: maybe}]",
			`pool "a": autoAssign: got text, want true or false`),
		refuses("reserved is not a list", "pools: [{name: a, addresses: [10.0.0.1]}]\nreserved: 10.0.0.1",
			"reserved: got text, want a list"),
		refuses("missing name", "pools: [{name: a, addresses: [10.0.0.1]}, {addresses: [10.0.0.2]}]", "pool #2: name is required"),
		refuses("empty pool entry", "pools:\n-\n", "pool #1: name is required",
			"pool #1: addresses: list at least one CIDR, first-last range or address"),
		refuses("bad name", "pools: [{name: Public_1, addresses: [10.0.0.1]}]",
			`pool "Public_1": name is not a DNS-1123 label: `+notLabel("Public_1")),
		refuses("duplicate names", "pools: [{name: a, addresses: [10.0.0.1]}, {name: b, addresses: [10.0.0.2]}, {name: a, addresses: [10.0.0.3]}]",
			`pool #3: name "a" is already used by pool #1`),
		refuses("no addresses", "pools: [{name: a}, {name: b, addresses: []}]",
			`pool "a": addresses: list at least one CIDR, first-last range or address`,
			`pool "b": addresses: list at least one CIDR, first-last range or address`),
		refuses("bad addresses", "pools: [{name: a, addresses: [10.0.0.300, 10.0.0.9-10.0.0.1, '10.0.0.0/33', '']}]",
			`pool "a": address "10.0.0.300": want an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address: IPv4 field has value >255`,
			`pool "a": address "10.0.0.9-10.0.0.1": range start 10.0.0.9 is after its end 10.0.0.1`,
			`pool "a": address "10.0.0.0/33": invalid CIDR: prefix length out of range`,
			`pool "a": address "": empty item`),
		refuses("two items in one entry", "pools: [{name: a, addresses: ['10.0.0.1, 10.0.0.2']}]",
			`pool "a": address "10.0.0.1, 10.0.0.2": one CIDR, range or address per entry: give each its own list entry`),
		refuses("IPv6 says why", "pools: [{name: a, addresses: ['fd00::/64']}]",
			`pool "a": address "fd00::/64": `+ipv6Reason).matching(ipam.ErrIPv6),
		refuses("IPv4-mapped IPv6", "pools: [{name: a, addresses: ['::ffff:10.0.0.1']}]",
			`pool "a": address "::ffff:10.0.0.1": not an IPv4 address: ::ffff:10.0.0.1 is IPv4-mapped IPv6; write it as 10.0.0.1`).matching(ipam.ErrNotIPv4),
		refuses("overlapping pools name both", "pools: [{name: a, addresses: [10.0.0.0/24]}, {name: b, addresses: [10.0.1.0/24, 10.0.0.128/25]}]",
			`pool "a" address 10.0.0.0/24 overlaps pool "b" address 10.0.0.128/25`),
		refuses("overlap within a pool", "pools: [{name: a, addresses: [10.0.0.1-10.0.0.9, 10.0.0.9]}]",
			`pool "a" address 10.0.0.1-10.0.0.9 overlaps pool "a" address 10.0.0.9`),
		refuses("bad namespaces", "pools: [{name: a, addresses: [10.0.0.1], namespaces: [team-a, Team_B, '']}]",
			`pool "a": namespace "Team_B" is not a namespace name: `+notLabel("Team_B"),
			`pool "a": namespace "" is not a namespace name: `+notLabel("")),
		refuses("bad reserved entries", "pools: [{name: a, addresses: [10.0.0.1]}]\nreserved: [10.0.0.x, 'fd00::1', '10.0.0.1,10.0.0.2', 10.0.0.1/40]",
			`reserved "10.0.0.x": want an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address: unexpected character (at "x")`,
			`reserved "fd00::1": `+ipv6Reason,
			`reserved "10.0.0.1,10.0.0.2": one CIDR, range or address per entry: give each its own list entry`,
			`reserved "10.0.0.1/40": invalid CIDR: prefix length out of range`).matching(ipam.ErrIPv6),
		refuses("pool left empty by reservations", "pools: [{name: a, addresses: [10.0.0.0/29]}, {name: b, addresses: [10.0.1.1]}]\nreserved: [10.0.0.0/29]",
			`pool "a": every address is reserved, leaving none to hand out`),
		refuses("every problem at once", `
pools:
  - name: Bad_Name
    addresses: [10.0.0.0/24]
    colour: blue
  - addresses: ['fd00::/64']
  - name: c
    addresses: [10.0.0.128/25]
    namespaces: [Nope]
  - name: c
reserved: [nonsense]
`,
			`pool "Bad_Name": unknown field "colour" (want name, addresses, namespaces, autoAssign, avoidBuggyIPs)`,
			`pool "Bad_Name": name is not a DNS-1123 label: `+notLabel("Bad_Name"),
			`pool #2: name is required`,
			`pool #2: address "fd00::/64": `+ipv6Reason,
			`pool "c": namespace "Nope" is not a namespace name: `+notLabel("Nope"),
			`pool #4: name "c" is already used by pool #3`,
			`pool "c": addresses: list at least one CIDR, first-last range or address`,
			`pool "Bad_Name" address 10.0.0.0/24 overlaps pool "c" address 10.0.0.128/25`,
			`reserved "nonsense": want an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address: unable to parse IP`),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Parse([]byte(tt.yaml))
			if got != nil {
				t.Errorf("Parse gave a config with its error")
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

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pools.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	for path, data := range map[string]string{good: example, bad: "pools: [{name: a}]"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cfg, _, err := Load(good)
	if err != nil || len(cfg.Pools) != 2 {
		t.Fatalf("Load(good) = %v, %v", cfg, err)
	}

	_, _, err = Load(bad)
	checkErr(t, err, "invalid pools file "+bad+":\npool \"a\": addresses: list at least one CIDR, first-last range or address", nil)

	missing := filepath.Join(dir, "missing.yaml")
	_, _, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v; want a not-exist error naming the file", err)
	}
}

func TestFromCIDR(t *testing.T) {
	cfg, warnings, err := FromCIDR("10.210.38.102/30, 10.210.38.200-10.210.38.202")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Pools: []Pool{pool("default", rng("10.210.38.101", "10.210.38.102"), rng("10.210.38.200", "10.210.38.202"))}}
	if diff := cmp.Diff(want, cfg, addrs); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.210.38.102/30 has host bits set; using its network 10.210.38.100/30"}, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if got, _ := cfg.Candidates("any", ""); !cmp.Equal(got, []string{"default"}) {
		t.Errorf("Candidates = %q, want [default]", got)
	}

	_, _, err = FromCIDR("fd00::/64")
	checkErr(t, err, `item 1 "fd00::/64": `+ipv6Reason, nil)
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rng(first, last string) ipam.Range { return ipam.Range{First: ip(first), Last: ip(last)} }

// pool is an auto-assign pool serving every namespace, as a file gives by default.
func pool(name string, ranges ...ipam.Range) Pool {
	return Pool{Pool: ipam.Pool{Name: name, Ranges: ranges}, AutoAssign: true}
}

func serving(p Pool, namespaces ...string) Pool {
	p.Namespaces = namespaces
	return p
}

func manual(p Pool) Pool {
	p.AutoAssign = false
	return p
}

func avoiding(p Pool) Pool {
	p.AvoidBuggyIPs = true
	return p
}

// addrs compares netip.Addr by value, as cmp cannot see inside it.
var addrs = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func mustParse(t testing.TB, data string) *Config {
	t.Helper()
	cfg, _, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// messages splits an errors.Join error into its messages.
func messages(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// checkErr fails unless err's text is want ("" for no error) and, when is is
// set, err matches it.
func checkErr(t *testing.T, err error, want string, is error) {
	t.Helper()
	got := ""
	if err != nil {
		got = err.Error()
	}
	if got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not match %v", err, is)
	}
}

// notLabel is apimachinery's reason a name is not a DNS-1123 label.
func notLabel(name string) string {
	return strings.Join(validation.IsDNS1123Label(name), "; ")
}

const ipv6Reason = "IPv6 is not supported: kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':')"
