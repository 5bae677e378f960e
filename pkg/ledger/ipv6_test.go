package ledger

import (
	"errors"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// dualPools reads spec as KEEPALIVED_SERVICE_CIDR with IPv6 allowed.
func dualPools(t testing.TB, spec string) *poolconfig.Config {
	t.Helper()
	pools, _, err := poolconfig.FromCIDRDualStack(spec)
	if err != nil {
		t.Fatal(err)
	}
	return pools
}

// newFamilyLedger is newLedger over a dual-stack pool spec for family fam; data
// and listed are ConfigMap keys as written (IPv6 ones encoded).
func newFamilyLedger(t *testing.T, fam vipconfig.Family, spec string, opts func(*Options), services []Service, data, listed map[string]string) (*Ledger, *[]Event) {
	t.Helper()
	return newLedger(t, "10.255.255.0/30", func(o *Options) {
		o.Pools, o.Family = dualPools(t, spec), fam
		if opts != nil {
			opts(o)
		}
	}, services, data, listed)
}

// TestFamiliesShareAPool: over one pool holding both families, each ledger hands
// out, follows and publishes only its own family, and neither blocks the other.
func TestFamiliesShareAPool(t *testing.T) {
	const pool = "10.0.0.0/29,fd00::/125"
	v4, _ := newFamilyLedger(t, vipconfig.IPv4, pool, nil, nil, nil, nil)
	v6, _ := newFamilyLedger(t, vipconfig.IPv6, pool, nil, nil, nil, nil)
	if got := ensure(t, v4, svc("a/web")); got != "10.0.0.1" {
		t.Errorf("IPv4 ledger gave %s, want 10.0.0.1", got)
	}
	// fd00:: is the /125's subnet-router anycast address: never handed out.
	if got := ensure(t, v6, svc("a/web")); got != "fd00::1" {
		t.Errorf("IPv6 ledger gave %s, want fd00::1", got)
	}
	if got := ensure(t, v6, svc("a/db")); got != "fd00::2" {
		t.Errorf("IPv6 ledger gave %s to the second Service, want fd00::2", got)
	}
	if got, want := published(v6), map[string]string{"fd00::1": "a/web", "fd00::2": "a/db"}; !maps.Equal(got, want) {
		t.Errorf("IPv6 view = %v, want %v", got, want)
	}
	if got := v6.View().Usage; got != "default: 2 of 7 in use" {
		t.Errorf("IPv6 usage summary %q, want the pool's IPv6 figures only", got)
	}
	if got := v4.View().Usage; got != "default: 1 of 6 in use" {
		t.Errorf("IPv4 usage summary %q, want the pool's IPv4 figures only", got)
	}
}

// TestIPv6Rebuild: the IPv6 ledger restores from statuses, adopts its own encoded
// keys, leaves keys others wrote alone (blocking their addresses) and reads no key
// of the legacy spelling as its own.
func TestIPv6Rebuild(t *testing.T) {
	services := []Service{
		svc("a/status", status("fd00::5")),
		svc("a/pending"),
	}
	listed := map[string]string{"fd00--6": "a/pending", "fd00--7": "gone/svc"}
	data := map[string]string{"fd00--1": "ops/manual", "fd00::2": "a/pending"}
	l, events := newFamilyLedger(t, vipconfig.IPv6, "fd00::/125", nil, services, data, listed)
	if got, want := published(l), map[string]string{"fd00::5": "a/status", "fd00::6": "a/pending"}; !maps.Equal(got, want) {
		t.Errorf("view = %v, want %v", got, want)
	}
	if got := ensure(t, l, svc("b/new")); got != "fd00::2" {
		t.Errorf("b/new got %s, want fd00::2 (fd00::1 is someone else's key; a key with ':' names nothing)", got)
	}
	if len(*events) != 1 || (*events)[0].Kind != Stale || (*events)[0].Addr != netip.MustParseAddr("fd00::7") {
		t.Errorf("events %v, want one stale entry fd00::7", *events)
	}
}

// TestIPv6ForeignKeyClash: a key someone writes for an IPv6 address a Service's
// status shows is reported under its encoded name, and the Service keeps the address.
func TestIPv6ForeignKeyClash(t *testing.T) {
	l, events := newFamilyLedger(t, vipconfig.IPv6, "fd00::/125", nil, []Service{svc("a/x", status("fd00::3"))}, nil, nil)
	l.ObserveConfigMap(snapshot(map[string]string{"fd00--3": "ops/manual"}, nil))
	if got := holding(l, uidOf("a/x")); got != "fd00::3" {
		t.Errorf("a/x holds %q after a foreign key appeared, want fd00::3", got)
	}
	if len(*events) != 1 || (*events)[0].Kind != Clash || !strings.Contains((*events)[0].Message, "the key fd00--3") {
		t.Errorf("events %v, want one clash naming the key fd00--3", *events)
	}
	if len(published(l)) != 0 {
		t.Errorf("view %v, want the blocked entry left out", published(l))
	}
}

func TestIPv6Requests(t *testing.T) {
	allow := func(o *Options) {
		o.AllowOutsidePools = true
		o.Forbidden = []netip.Prefix{netip.MustParsePrefix("fd00:10::/108"), netip.MustParsePrefix("10.96.0.0/12")}
	}
	tests := []struct {
		name, ask, want, errMatch string
		opts                      func(*Options)
		is                        error
	}{
		{name: "in the pool", ask: "fd00::20", want: "fd00::20"},
		{name: "outside by default", ask: "fd01::1", errMatch: "outside every address pool", is: ipam.ErrNotInPool},
		{name: "outside with opt-in", opts: allow, ask: "fd01::1", want: "fd01::1"},
		{name: "anycast of the pool", opts: allow, ask: "fd00::", errMatch: "network or broadcast", is: ipam.ErrSpecial},
		{name: "link-local", opts: allow, ask: "fe80::1", errMatch: "link-local", is: ipam.ErrSpecial},
		{name: "multicast (VRRPv3)", opts: allow, ask: "ff02::12", errMatch: "multicast", is: ipam.ErrSpecial},
		{name: "loopback", opts: allow, ask: "::1", errMatch: "loopback", is: ipam.ErrSpecial},
		{name: "documentation outside a pool", opts: allow, ask: "2001:db8::1", errMatch: "documentation", is: ipam.ErrSpecial},
		{name: "cluster Service CIDR", opts: allow, ask: "fd00:10::5", errMatch: "Service CIDR", is: ipam.ErrSpecial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newFamilyLedger(t, vipconfig.IPv6, "fd00::/120", tt.opts, nil, nil, nil)
			addr, _, err := l.Ensure(svc("a/s", asks(tt.ask)))
			if tt.want != "" {
				if err != nil || addr.String() != tt.want {
					t.Fatalf("Ensure = %s, %v; want %s", addr, err, tt.want)
				}
				return
			}
			var failure *AllocationError
			if !errors.As(err, &failure) || failure.Reason != ReasonNotAllowed || !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.errMatch) {
				t.Fatalf("Ensure = %s, %v; want a not_allowed refusal matching %v and saying %q", addr, err, tt.is, tt.errMatch)
			}
		})
	}
}

// TestIPv6ServiceCIDRNeverHandedOut: a pool overlapping the cluster's IPv6 Service
// CIDR hands out none of it.
func TestIPv6ServiceCIDRNeverHandedOut(t *testing.T) {
	forbid := func(o *Options) { o.Forbidden = []netip.Prefix{netip.MustParsePrefix("fd00::/126")} }
	l, _ := newFamilyLedger(t, vipconfig.IPv6, "fd00::/125", forbid, nil, nil, nil)
	if got := ensure(t, l, svc("a/s")); got != "fd00::4" {
		t.Errorf("got %s, want fd00::4, the first address past the Service CIDR fd00::/126", got)
	}
}

// TestOffers: a family is offered where a pool serving the namespace (or the pool
// the Service names) has a range of it; a Service asking elsewhere hears which.
func TestOffers(t *testing.T) {
	pools, _, err := poolconfig.ParseDualStack([]byte(`
pools:
  - name: v4
    addresses: [10.0.0.0/29]
  - name: dual
    addresses: [10.0.1.0/29, "fd00::/125"]
    namespaces: [team-b]
  - name: v6-manual
    addresses: ["fd00:1::/125"]
    autoAssign: false
`))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := newLedger(t, "10.0.0.0/29", func(o *Options) { o.Pools, o.Family = pools, vipconfig.IPv6 }, nil, nil, nil)
	named := func(p string) func(*Service) { return func(s *Service) { s.Pool = p } }
	for _, tt := range []struct {
		s    Service
		want bool
	}{
		{svc("team-a/s"), false},
		{svc("team-b/s"), true},
		{svc("team-a/s", named("v6-manual")), true},
		{svc("team-a/s", named("v4")), false},
		{svc("team-a/s", named("nope")), false},
	} {
		if got, err := l.Offers(tt.s); got != tt.want || err != nil {
			t.Errorf("Offers(%s, pool %q) = %t, %v; want %t", tt.s.Key, tt.s.Pool, got, err, tt.want)
		}
	}
	_, _, err = l.Ensure(svc("team-a/s", named("v4")))
	if err == nil || !strings.Contains(err.Error(), `has IPv6 addresses (pools "v4" have none)`) {
		t.Errorf("Ensure from an IPv4-only pool = %v, want a refusal saying the pool has no IPv6 addresses", err)
	}
	if got := ensure(t, l, svc("team-b/s")); got != "fd00::1" {
		t.Errorf("team-b/s got %s, want fd00::1 from pool dual", got)
	}
}
