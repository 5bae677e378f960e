package poolconfig

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

func TestIPAMPoolsCarveOutReserved(t *testing.T) {
	cfg := mustParse(t, teams)
	want := []ipam.Pool{
		{Name: "shared-1", Ranges: []ipam.Range{rng("10.0.1.1", "10.0.1.6"), rng("10.0.1.8", "10.0.1.254")}},
		{Name: "team-a", Ranges: []ipam.Range{rng("10.0.2.16", "10.0.2.254")}},
		{Name: "manual", Ranges: []ipam.Range{rng("10.0.3.1", "10.0.3.254")}},
		{Name: "shared-2", Ranges: []ipam.Range{rng("10.0.4.1", "10.0.4.254")}},
		{Name: "team-ab", Ranges: []ipam.Range{rng("10.0.5.1", "10.0.5.254")}},
		{Name: "team-b-manual", Ranges: []ipam.Range{rng("10.0.6.1", "10.0.6.254")}},
	}
	got := cfg.IPAMPools()
	if diff := cmp.Diff(want, got, addrs); diff != "" {
		t.Fatalf("IPAMPools (-want +got):\n%s", diff)
	}
	// The file's ranges are left as written.
	if diff := cmp.Diff([]ipam.Range{rng("10.0.1.1", "10.0.1.254")}, cfg.Pools[0].Ranges, addrs); diff != "" {
		t.Errorf("Pools[0].Ranges changed (-want +got):\n%s", diff)
	}

	a, err := ipam.NewAllocator(got...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		ip, err := a.Allocate("shared-1")
		if err != nil || cfg.IsReserved(ip) {
			t.Fatalf("allocation %d gave %v, %v", i, ip, err)
		}
	}
	if got, _ := a.Allocate("team-a"); got != ip("10.0.2.16") {
		t.Errorf("first team-a address = %v, want 10.0.2.16", got)
	}
}

func TestLookups(t *testing.T) {
	cfg := mustParse(t, teams)
	tests := []struct {
		name     string
		got      func() (string, bool)
		want     string
		wantBool bool
	}{
		{"Lookup finds a pool", func() (string, bool) { p, ok := cfg.Lookup("team-ab"); return p.Name, ok }, "team-ab", true},
		{"Lookup misses", func() (string, bool) { p, ok := cfg.Lookup("gold"); return p.Name, ok }, "", false},
		{"PoolOf a free address", func() (string, bool) { p, ok := cfg.PoolOf(ip("10.0.4.4")); return p.Name, ok }, "shared-2", true},
		{"PoolOf a reserved address", func() (string, bool) { p, ok := cfg.PoolOf(ip("10.0.1.7")); return p.Name, ok }, "shared-1", true},
		{"PoolOf outside", func() (string, bool) { p, ok := cfg.PoolOf(ip("10.0.9.9")); return p.Name, ok }, "", false},
		{"PoolOf a CIDR's broadcast address", func() (string, bool) { p, ok := cfg.PoolOf(ip("10.0.4.255")); return p.Name, ok }, "", false},
		{"IsReserved single", func() (string, bool) { return "", cfg.IsReserved(ip("10.0.1.7")) }, "", true},
		{"IsReserved whole CIDR block", func() (string, bool) { return "", cfg.IsReserved(ip("10.0.2.15")) }, "", true},
		{"IsReserved past the block", func() (string, bool) { return "", cfg.IsReserved(ip("10.0.2.16")) }, "", false},
		{"IsReserved IPv6", func() (string, bool) { return "", cfg.IsReserved(ip("::ffff:10.0.1.7")) }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.got()
			if got != tt.want || ok != tt.wantBool {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.wantBool)
			}
		})
	}
}

func TestServes(t *testing.T) {
	if !pool("a").Serves("x") || !serving(pool("a"), "x").Serves("x") || serving(pool("a"), "y", "z").Serves("x") {
		t.Error("Serves: want every namespace when none are listed, else just those listed")
	}
}

// teams has every kind of pool, mixed so that file order and the
// namespace-specific-first rule disagree.
const teams = `
pools:
  - {name: shared-1, addresses: [10.0.1.0/24]}
  - {name: team-a, addresses: [10.0.2.0/24], namespaces: [a]}
  - {name: manual, addresses: [10.0.3.0/24], autoAssign: false}
  - {name: shared-2, addresses: [10.0.4.0/24]}
  - {name: team-ab, addresses: [10.0.5.0/24], namespaces: [a, b]}
  - {name: team-b-manual, addresses: [10.0.6.0/24], namespaces: [b], autoAssign: false}
reserved: [10.0.1.7, 10.0.2.0/28, 192.168.9.9]
`

const unknownTeamsPool = `annotation k8s.co/keepalived-pool names pool "gold", which does not exist; ` +
	`the pools are "shared-1", "team-a", "manual", "shared-2", "team-ab", "team-b-manual"`

func TestCandidates(t *testing.T) {
	cfg := mustParse(t, teams)
	tests := []struct {
		name, namespace, pool string
		want                  []string
		err                   string
		is                    error
	}{
		{name: "namespace pools first, then shared, each in file order", namespace: "a",
			want: []string{"team-a", "team-ab", "shared-1", "shared-2"}},
		{name: "a pool serving several namespaces", namespace: "b", want: []string{"team-ab", "shared-1", "shared-2"}},
		{name: "no namespace pool: shared only", namespace: "c", want: []string{"shared-1", "shared-2"}},
		{name: "named manual pool", namespace: "c", pool: "manual", want: []string{"manual"}},
		{name: "named namespace pool skips the order", namespace: "a", pool: "team-ab", want: []string{"team-ab"}},
		{name: "named manual namespace pool", namespace: "b", pool: "team-b-manual", want: []string{"team-b-manual"}},
		{name: "named pool not serving the namespace", namespace: "a", pool: "team-b-manual", is: ErrNotServed,
			err: `annotation k8s.co/keepalived-pool names pool "team-b-manual", which serves namespaces [b] only`},
		{name: "named pool serving other namespaces lists them", namespace: "c", pool: "team-ab", is: ErrNotServed,
			err: `annotation k8s.co/keepalived-pool names pool "team-ab", which serves namespaces [a, b] only`},
		{name: "unknown pool lists the pools", namespace: "a", pool: "gold", is: ipam.ErrUnknownPool, err: unknownTeamsPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfg.Candidates(tt.namespace, tt.pool)
			checkErr(t, err, tt.err, tt.is)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Candidates(%q, %q) (-want +got):\n%s", tt.namespace, tt.pool, diff)
			}
		})
	}
}

func TestCandidatesNoneServe(t *testing.T) {
	cfg := mustParse(t, "pools: [{name: a, addresses: [10.0.0.1], namespaces: [a]}, {name: m, addresses: [10.0.0.2], autoAssign: false}]")
	got, err := cfg.Candidates("z", "")
	if err != nil || len(got) != 0 {
		t.Errorf("Candidates = %q, %v; want none and no error", got, err)
	}
	_, err = (&Config{}).Candidates("z", "gold")
	checkErr(t, err, `annotation k8s.co/keepalived-pool names pool "gold", which does not exist; the pools are none`, ipam.ErrUnknownPool)
}

func TestPermitsRequest(t *testing.T) {
	cfg := mustParse(t, teams)
	tests := []struct {
		name, namespace, pool, addr string
		err                         string
		is                          error
	}{
		{name: "outside every pool", namespace: "c", addr: "192.168.1.1"},
		{name: "outside every pool with a named pool", namespace: "a", pool: "team-a", addr: "192.168.1.1"},
		{name: "in a shared pool", namespace: "c", addr: "10.0.1.5"},
		{name: "in its namespace's pool", namespace: "a", addr: "10.0.2.20"},
		{name: "in a pool serving several namespaces", namespace: "b", addr: "10.0.5.1"},
		{name: "in a manual pool", namespace: "c", addr: "10.0.3.9"},
		{name: "in a manual namespace pool", namespace: "b", addr: "10.0.6.9"},
		{name: "in the named pool", namespace: "a", pool: "team-a", addr: "10.0.2.20"},
		{name: "a pool's network address is in it", namespace: "c", addr: "10.0.3.0"},
		{name: "in another namespace's pool", namespace: "c", addr: "10.0.2.20", is: ErrNotServed,
			err: `address 10.0.2.20 is in pool "team-a", which serves namespaces [a] only`},
		{name: "in a pool serving other namespaces", namespace: "c", addr: "10.0.5.1", is: ErrNotServed,
			err: `address 10.0.5.1 is in pool "team-ab", which serves namespaces [a, b] only`},
		{name: "in another namespace's manual pool", namespace: "a", addr: "10.0.6.9", is: ErrNotServed,
			err: `address 10.0.6.9 is in pool "team-b-manual", which serves namespaces [b] only`},
		{name: "reserved in a pool", namespace: "c", addr: "10.0.1.7", is: ErrReserved,
			err: "address 10.0.1.7 is reserved: the pools file keeps it from every Service"},
		{name: "reserved CIDR covers its network address", namespace: "a", addr: "10.0.2.0", is: ErrReserved,
			err: "address 10.0.2.0 is reserved: the pools file keeps it from every Service"},
		{name: "reserved outside every pool", namespace: "c", addr: "192.168.9.9", is: ErrReserved,
			err: "address 192.168.9.9 is reserved: the pools file keeps it from every Service"},
		{name: "in a pool other than the named one", namespace: "a", pool: "team-a", addr: "10.0.1.5", is: ipam.ErrNotInPool,
			err: `address 10.0.1.5 is in pool "shared-1", but annotation k8s.co/keepalived-pool names pool "team-a"`},
		{name: "named pool unknown", namespace: "a", pool: "gold", addr: "192.168.1.1", is: ipam.ErrUnknownPool, err: unknownTeamsPool},
		{name: "named pool not serving the namespace", namespace: "a", pool: "team-b-manual", addr: "10.0.6.9", is: ErrNotServed,
			err: `annotation k8s.co/keepalived-pool names pool "team-b-manual", which serves namespaces [b] only`},
		{name: "IPv6", namespace: "a", addr: "fd00::1", is: ipam.ErrIPv6, err: "address fd00::1: " + ipv6Reason},
		{name: "IPv4-mapped IPv6", namespace: "a", addr: "::ffff:10.0.1.5", is: ipam.ErrNotIPv4,
			err: "address ::ffff:10.0.1.5: not an IPv4 address: write it as 10.0.1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, cfg.PermitsRequest(tt.namespace, tt.pool, ip(tt.addr)), tt.err, tt.is)
		})
	}
	checkErr(t, cfg.PermitsRequest("a", "", netip.Addr{}), "no address: not an IPv4 address", ipam.ErrNotIPv4)
}
