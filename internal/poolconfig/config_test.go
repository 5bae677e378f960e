package poolconfig

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
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
		ip, err := a.Allocate("shared-1", "ns/svc")
		if err != nil || cfg.IsReserved(ip) {
			t.Fatalf("allocation %d gave %v, %v", i, ip, err)
		}
	}
	if got, _ := a.Allocate("team-a", "ns/svc"); got != ip("10.0.2.16") {
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
