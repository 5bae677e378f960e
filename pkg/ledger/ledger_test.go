package ledger

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

const configMapName = "kube-system/vip-configmap"

// newLedger returns a rebuilt ledger over pool holding services and the ConfigMap data.
func newLedger(t *testing.T, pool string, opts func(*Options), services []Service, data, listed map[string]string) (*Ledger, *[]Event) {
	t.Helper()
	o := Options{Pools: mustPools(t, pool), ConfigMap: configMapName, OutsideHint: "OPT-IN"}
	if opts != nil {
		opts(&o)
	}
	var events []Event
	l, err := New(o, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Rebuild(services, snapshot(data, listed)); err != nil {
		t.Fatal(err)
	}
	return l, &events
}

func mustPools(t testing.TB, cidr string) *poolconfig.Config {
	t.Helper()
	pools, _, err := poolconfig.FromCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	return pools
}

// invalidPools is the start of a replica whose pools file does not parse.
func invalidPools(o *Options) {
	o.Pools, o.PoolsErr = nil, errors.New("pools.yaml: line 3: bad indentation")
}

// snapshot is a ConfigMap holding data (foreign keys) and listed (keys of ours).
func snapshot(data, listed map[string]string) vipconfig.Snapshot {
	snap := vipconfig.Snapshot{Data: map[string]string{}, Listed: map[string]bool{}}
	maps.Copy(snap.Data, data)
	for k, v := range listed {
		snap.Data[k], snap.Listed[k] = v, true
	}
	return snap
}

// svc is a LoadBalancer Service; its UID is derived from its key unless uid says otherwise.
func svc(key string, opts ...func(*Service)) Service {
	ns, _, _ := strings.Cut(key, "/")
	s := Service{UID: uidOf(key), Key: key, Namespace: ns, Wants: true, Method: vipconfig.NAT}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func uidOf(key string) types.UID { return types.UID("uid-" + key) }

// uid gives a Service an explicit UID: a re-created Service of the same name.
func uid(u string) func(*Service)    { return func(s *Service) { s.UID = types.UID(u) } }
func status(a string) func(*Service) { return func(s *Service) { s.Status = netip.MustParseAddr(a) } }
func asks(a string) func(*Service)   { return func(s *Service) { s.Request = netip.MustParseAddr(a) } }

func ensure(t *testing.T, l *Ledger, s Service) string {
	t.Helper()
	addr, _, err := l.Ensure(s)
	if err != nil {
		t.Fatalf("Ensure(%s) = %v", s.Key, err)
	}
	return addr.String()
}

func release(t *testing.T, l *Ledger, u types.UID) {
	t.Helper()
	if _, _, err := l.Release(u); err != nil {
		t.Fatalf("Release(%s) = %v", u, err)
	}
}

// holding is the address the Service holds, "" for none.
func holding(l *Ledger, u types.UID) string {
	if a, ok := l.Holding(u); ok {
		return a.String()
	}
	return ""
}

func published(l *Ledger) map[string]string {
	out := map[string]string{}
	for addr, e := range l.View().Entries {
		out[addr.String()] = e.Value()
	}
	return out
}

func TestRebuildOrderOfAuthority(t *testing.T) {
	services := []Service{
		svc("a/status", status("10.0.0.5")),  // status wins over the entry that names b/moved
		svc("a/pending"),                     // crashed between publish and status patch
		svc("a/lost"),                        // its entry's address is held by a status
		svc("a/clashed", status("10.0.0.9")), // someone hand-wrote its key since
	}
	listed := map[string]string{
		"10.0.0.5": "a/other",   // stale: a/other does not exist, a/status's status holds it
		"10.0.0.6": "a/pending", // adopted
		"10.0.0.7": "gone/svc",  // orphan: removed
	}
	data := map[string]string{"10.0.0.9": "hand/written", "10.0.0.10": ""}
	l, events := newLedger(t, "10.0.0.0/24", nil, services, data, listed)

	want := map[string]string{"10.0.0.5": "a/status", "10.0.0.6": "a/pending"}
	if got := published(l); !maps.Equal(got, want) {
		t.Errorf("view = %v, want %v (clashed a/clashed left out, stale and orphaned entries dropped)", got, want)
	}
	if got := ensure(t, l, svc("a/clashed", status("10.0.0.9"))); got != "10.0.0.9" {
		t.Errorf("a/clashed moved to %s; a hand-written key must never move a Service's address", got)
	}
	if got := ensure(t, l, svc("a/lost")); got != "10.0.0.1" {
		t.Errorf("a/lost got %s, want the lowest free address 10.0.0.1", got)
	}
	if got := ensure(t, l, svc("b/new")); got != "10.0.0.2" {
		t.Errorf("b/new got %s, want 10.0.0.2", got)
	}
	kinds := map[EventKind]int{}
	for _, e := range *events {
		kinds[e.Kind]++
	}
	if kinds[Clash] != 1 || kinds[Stale] != 2 {
		t.Errorf("events = %v, want one clash and two stale entries", *events)
	}
}

func TestRequests(t *testing.T) {
	allow := func(o *Options) {
		o.AllowOutsidePools = true
		o.Forbidden = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
	}
	tests := []struct {
		name     string
		opts     func(*Options)
		ask      string
		want     string // the address given, or "" for a refusal
		errMatch string
		is       error
	}{
		{name: "in the pool", ask: "10.0.0.20", want: "10.0.0.20"},
		{name: "outside by default", ask: "192.168.1.1", errMatch: "outside every address pool", is: ipam.ErrNotInPool},
		{name: "outside with opt-in", opts: allow, ask: "192.168.1.1", want: "192.168.1.1"},
		{name: "loopback", opts: allow, ask: "127.0.0.1", errMatch: "loopback", is: ipam.ErrSpecial},
		{name: "unspecified", opts: allow, ask: "0.0.0.0", errMatch: "this network", is: ipam.ErrSpecial},
		{name: "broadcast", opts: allow, ask: "255.255.255.255", errMatch: "240.0.0.0/4", is: ipam.ErrSpecial},
		{name: "VRRP group", opts: allow, ask: "224.0.0.18", errMatch: "multicast", is: ipam.ErrSpecial},
		{name: "link-local", opts: allow, ask: "169.254.169.254", errMatch: "link-local", is: ipam.ErrSpecial},
		{name: "pool network", opts: allow, ask: "10.0.0.0", errMatch: "network or broadcast", is: ipam.ErrSpecial},
		{name: "pool broadcast", opts: allow, ask: "10.0.0.255", errMatch: "network or broadcast", is: ipam.ErrSpecial},
		{name: "cluster Service CIDR", opts: allow, ask: "10.96.0.10", errMatch: "Service CIDR", is: ipam.ErrSpecial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLedger(t, "10.0.0.0/24", tt.opts, nil, nil, nil)
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
			if len(published(l)) != 0 {
				t.Errorf("a refused request published %v", published(l))
			}
		})
	}
}

func TestHeldRequestNamesHolderOnlyToItsNamespace(t *testing.T) {
	l, _ := newLedger(t, "10.0.0.0/29", nil, []Service{svc("team-a/web", status("10.0.0.3"))}, nil, nil)
	_, _, err := l.Ensure(svc("team-a/copy", asks("10.0.0.3")))
	if !errors.Is(err, ipam.ErrInUse) || !strings.Contains(err.Error(), "team-a/web") {
		t.Errorf("same namespace: %v; want in use, naming team-a/web", err)
	}
	_, _, err = l.Ensure(svc("team-b/squat", asks("10.0.0.3")))
	if !errors.Is(err, ipam.ErrInUse) || strings.Contains(err.Error(), "team-a") {
		t.Errorf("other namespace: %v; want in use without naming the holder", err)
	}
	// The holder goes: the address passes to the waiting request of its own
	// namespace, never to the squatter from another namespace.
	release(t, l, uidOf("team-a/web"))
	if _, _, err := l.Ensure(svc("team-b/squat", asks("10.0.0.3"))); !errors.Is(err, ipam.ErrInUse) {
		t.Errorf("squatter after release: %v; want in use (held for team-a/copy)", err)
	}
	if got := ensure(t, l, svc("team-a/copy", asks("10.0.0.3"))); got != "10.0.0.3" {
		t.Errorf("team-a/copy got %s, want 10.0.0.3", got)
	}
}

func TestServiceGoneFreesOrphan(t *testing.T) {
	l, events := newLedger(t, "10.0.0.0/29", nil, []Service{svc("a/x", status("10.0.0.1"))}, nil, nil)
	l.ServiceGone(uidOf("a/x"))
	if len(published(l)) != 0 || len(*events) != 1 || (*events)[0].Kind != Orphan {
		t.Fatalf("view %v, events %v; want the orphan removed and reported", published(l), *events)
	}
	if got := ensure(t, l, svc("a/y")); got != "10.0.0.1" {
		t.Errorf("a/y got %s; want the freed 10.0.0.1", got)
	}
}

func TestForeignKeyTakesUnconfirmedAddress(t *testing.T) {
	l, _ := newLedger(t, "10.0.0.0/29", nil, nil, nil, nil)
	addr, gen, err := l.Ensure(svc("a/x"))
	if err != nil {
		t.Fatal(err)
	}
	l.ObserveConfigMap(snapshot(map[string]string{addr.String(): ""}, nil))
	if l.Holds(uidOf("a/x"), addr) || l.Gen() <= gen {
		t.Fatalf("a/x still holds %s after someone wrote its key before the status did", addr)
	}
	if got := ensure(t, l, svc("a/x")); got == addr.String() {
		t.Errorf("a/x got %s again", got)
	}
	// The key goes away: its address is free again.
	l.ObserveConfigMap(snapshot(nil, nil))
	if got := ensure(t, l, svc("a/z")); got != addr.String() {
		t.Errorf("a/z got %s, want %s, freed by the hand-written key", got, addr)
	}
}

func TestConfigMapCapacity(t *testing.T) {
	one := entrySize(netip.MustParseAddr("10.0.0.1"), vipconfig.Entry{Service: "a/s1", Method: vipconfig.NAT})
	l, _ := newLedger(t, "10.0.0.0/24", func(o *Options) { o.Capacity = Size{Data: 2 * one.Data, Annotation: 100} }, nil, nil, nil)
	ensure(t, l, svc("a/s1"))
	ensure(t, l, svc("a/s2"))
	_, _, err := l.Ensure(svc("a/s3"))
	if !errors.Is(err, ErrConfigMapFull) {
		t.Fatalf("third entry: %v, want ErrConfigMapFull", err)
	}
	if got := ensure(t, l, svc("a/s1")); got != "10.0.0.1" {
		t.Errorf("a full ConfigMap must not refuse a Service that holds its address: got %s", got)
	}
	if fill := l.Fill(); fill < 0.9 {
		t.Errorf("Fill = %.2f, want about 1", fill)
	}
}

func TestNotReady(t *testing.T) {
	l, err := New(Options{Pools: mustPools(t, "10.0.0.0/29")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Ensure(svc("a/x")); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ensure before Rebuild = %v, want ErrNotReady", err)
	}
	if _, _, err := l.Release(uidOf("a/x")); !errors.Is(err, ErrNotReady) {
		t.Errorf("Release before Rebuild = %v, want ErrNotReady", err)
	}
	if l.Ready() {
		t.Error("the ledger is ready before Rebuild: the writer could erase every entry")
	}
}

// TestGrantedRequestStays: a Service that holds the address it asks for keeps it even
// if today's rules would refuse the request (an upgrade from the 2017 project).
func TestGrantedRequestStays(t *testing.T) {
	old := svc("a/legacy", status("192.0.2.7"), asks("192.0.2.7"))
	l, _ := newLedger(t, "10.0.0.0/29", nil, []Service{old}, nil, nil)
	if got := ensure(t, l, old); got != "192.0.2.7" {
		t.Errorf("a/legacy got %s, want to keep 192.0.2.7", got)
	}
	if _, _, err := l.Ensure(svc("a/new", asks("192.0.2.8"))); err == nil {
		t.Error("a new request outside the pools was accepted without the operator's opt-in")
	}
}

// TestConcurrentUse: parallel syncs (--concurrent-service-syncs), informer events
// and the writer's reads share one ledger; run with -race.
func TestConcurrentUse(t *testing.T) {
	l, _ := newLedger(t, "10.0.0.0/24", nil, nil, nil, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				s := svc(fmt.Sprintf("ns%d/s%d", g, i%5), uid(fmt.Sprintf("%d-%d", g, i)))
				addr, _, err := l.Ensure(s)
				if err != nil {
					t.Error(err)
					return
				}
				s.Status = addr
				l.ObserveService(s)
				_, _ = l.View(), l.Stats()
				if i%2 == 0 { // the others are deleted without a release
					if _, _, err := l.Release(s.UID); err != nil {
						t.Error(err)
					}
				}
				l.ServiceGone(s.UID)
			}
		}()
	}
	wg.Wait()
	if got := published(l); len(got) != 0 {
		t.Errorf("view = %v after every Service is gone", got)
	}
	if u := l.Stats().Pools[0]; u.InUse != 0 {
		t.Errorf("%d addresses in use after every Service is gone", u.InUse)
	}
}
