package ledger

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// shares gives a Service a sharing key and its ports ("TCP/53" style: protocol, number).
func shares(key string, ports ...Port) func(*Service) {
	return func(s *Service) { s.Share, s.Ports = key, ports }
}

func local(s *Service) { s.Local = true }

func tcp(n int32) Port { return Port{Protocol: "TCP", Number: n} }
func udp(n int32) Port { return Port{Protocol: "UDP", Number: n} }

// TestSharing: Services of one namespace with one sharing key and disjoint ports
// hold one address; the ConfigMap names the lowest by key; the address is freed
// with the last sharer; nothing is shared across namespaces, with colliding ports,
// or with a Local Service.
func TestSharing(t *testing.T) {
	dnsTCP := svc("a/dns-tcp", shares("dns", tcp(53)))
	dnsUDP := svc("a/dns-udp", shares("dns", udp(53)))
	web := svc("a/web", shares("dns", tcp(53), tcp(80))) // 53/TCP collides with dns-tcp
	other := svc("b/dns-udp", shares("dns", udp(53)))
	runCases(t, []ledgerCase{{
		name:    "two sharers, disjoint ports: one address, the lowest name in the entry",
		steps:   []step{ensures(dnsUDP, "10.0.0.1"), ensures(dnsTCP, "10.0.0.1")},
		view:    map[string]string{"10.0.0.1": "a/dns-tcp"},
		holding: map[types.UID]string{dnsTCP.UID: "10.0.0.1", dnsUDP.UID: "10.0.0.1"},
	}, {
		name:    "colliding ports are refused and get nothing",
		steps:   []step{ensures(dnsTCP, "10.0.0.1"), refuses(web, ReasonShareRefused)},
		view:    map[string]string{"10.0.0.1": "a/dns-tcp"},
		holding: map[types.UID]string{web.UID: ""},
	}, {
		name:    "never across namespaces",
		steps:   []step{ensures(dnsTCP, "10.0.0.1"), ensures(other, "10.0.0.2")},
		view:    map[string]string{"10.0.0.1": "a/dns-tcp", "10.0.0.2": "b/dns-udp"},
		holding: map[types.UID]string{other.UID: "10.0.0.2"},
	}, {
		name:  "a Local Service does not share",
		steps: []step{ensures(dnsTCP, "10.0.0.1"), refuses(svc("a/dns-udp", shares("dns", udp(53)), local), ReasonShareRefused)},
		view:  map[string]string{"10.0.0.1": "a/dns-tcp"},
	}, {
		name:  "alone, a Local Service with a key gets its own address",
		steps: []step{ensures(svc("a/dns-udp", shares("dns", udp(53)), local), "10.0.0.1")},
		view:  map[string]string{"10.0.0.1": "a/dns-udp"},
	}, {
		name:    "the first sharer's release keeps the address for the other, whose name the entry takes",
		steps:   []step{ensures(dnsTCP, "10.0.0.1"), ensures(dnsUDP, "10.0.0.1"), releases(dnsTCP.UID), ensures(svc("a/x"), "10.0.0.2")},
		view:    map[string]string{"10.0.0.1": "a/dns-udp", "10.0.0.2": "a/x"},
		holding: map[types.UID]string{dnsTCP.UID: "", dnsUDP.UID: "10.0.0.1"},
	}, {
		name:  "the last sharer's release frees it",
		steps: []step{ensures(dnsTCP, "10.0.0.1"), ensures(dnsUDP, "10.0.0.1"), releases(dnsUDP.UID), releases(dnsTCP.UID), ensures(svc("a/x"), "10.0.0.1")},
		view:  map[string]string{"10.0.0.1": "a/x"},
	}, {
		name:   "a deleted sharer (finalizer removed by hand) frees nothing the other holds",
		steps:  []step{ensures(dnsTCP, "10.0.0.1"), ensures(dnsUDP, "10.0.0.1"), gone(dnsTCP.UID)},
		view:   map[string]string{"10.0.0.1": "a/dns-udp"},
		events: []string{event(Orphan, dnsTCP.UID, "10.0.0.1")},
	}, {
		name: "both request the address: it is shared",
		steps: []step{ensures(svc("a/dns-tcp", shares("dns", tcp(53)), asks("10.0.0.5")), "10.0.0.5"),
			ensures(svc("a/dns-udp", shares("dns", udp(53)), asks("10.0.0.5")), "10.0.0.5")},
		view: map[string]string{"10.0.0.5": "a/dns-tcp"},
	}, {
		name:  "a sharer asking for another address is refused",
		steps: []step{ensures(dnsTCP, "10.0.0.1"), refuses(svc("a/dns-udp", shares("dns", udp(53)), asks("10.0.0.5")), ReasonShareRefused)},
		view:  map[string]string{"10.0.0.1": "a/dns-tcp"},
	}, {
		name:  "without the same key, a requested address held by another is in use",
		steps: []step{ensures(svc("a/dns-tcp", shares("dns", tcp(53)), asks("10.0.0.5")), "10.0.0.5"), refuses(svc("a/y", asks("10.0.0.5")), ReasonInUse)},
		view:  map[string]string{"10.0.0.5": "a/dns-tcp"},
	}, {
		name: "ports edited to collide: the edited Service lets go, the other keeps it",
		steps: []step{ensures(dnsTCP, "10.0.0.1"), ensures(dnsUDP, "10.0.0.1"),
			refuses(svc("a/dns-udp", shares("dns", tcp(53))), ReasonShareRefused)},
		view:    map[string]string{"10.0.0.1": "a/dns-tcp"},
		holding: map[types.UID]string{dnsTCP.UID: "10.0.0.1", dnsUDP.UID: ""},
	}, {
		name: "a key added to a Service that holds an address moves nothing",
		steps: []step{ensures(dnsTCP, "10.0.0.1"), ensures(svc("a/dns-udp"), "10.0.0.2"),
			ensures(svc("a/dns-udp", shares("dns", udp(53))), "10.0.0.2")},
		view: map[string]string{"10.0.0.1": "a/dns-tcp", "10.0.0.2": "a/dns-udp"},
	}, {
		name: "restore: both statuses show the address, nothing moves and no conflict",
		services: []Service{svc("a/dns-tcp", shares("dns", tcp(53)), status("10.0.0.3")),
			svc("a/dns-udp", shares("dns", udp(53)), status("10.0.0.3"))},
		steps:   []step{ensures(svc("a/dns-udp", shares("dns", udp(53)), status("10.0.0.3")), "10.0.0.3")},
		view:    map[string]string{"10.0.0.3": "a/dns-tcp"},
		holding: map[types.UID]string{dnsTCP.UID: "10.0.0.3", dnsUDP.UID: "10.0.0.3"},
	}, {
		name: "a takeover rebuilds the shared address from the statuses",
		steps: []step{ensures(dnsTCP, "10.0.0.1"), ensures(dnsUDP, "10.0.0.1"),
			rebuilds(svc("a/dns-tcp", shares("dns", tcp(53)), status("10.0.0.1")), svc("a/dns-udp", shares("dns", udp(53)), status("10.0.0.1")))},
		view:    map[string]string{"10.0.0.1": "a/dns-tcp"},
		holding: map[types.UID]string{dnsTCP.UID: "10.0.0.1", dnsUDP.UID: "10.0.0.1"},
	}, {
		name:     "statuses of colliding sharers are a conflict, which the published one wins",
		services: []Service{svc("a/dns-tcp", shares("dns", tcp(53)), status("10.0.0.3")), svc("a/web", shares("dns", tcp(53)), status("10.0.0.3"))},
		listed:   map[string]string{"10.0.0.3": "a/web"},
		view:     map[string]string{"10.0.0.3": "a/web"},
		holding:  map[types.UID]string{uidOf("a/web"): "10.0.0.3", dnsTCP.UID: ""},
		events:   []string{conflict(dnsTCP.UID, "10.0.0.3"), conflict(uidOf("a/web"), "10.0.0.3")},
	}, {
		name:    "a sharer's status followed between syncs",
		steps:   []step{ensures(dnsTCP, "10.0.0.1"), observes(svc("a/dns-udp", shares("dns", udp(53)), status("10.0.0.1")))},
		view:    map[string]string{"10.0.0.1": "a/dns-tcp"},
		holding: map[types.UID]string{dnsUDP.UID: "10.0.0.1"},
	}})
}

// TestSharingCountsOneEntry: sharers take one entry's room in the ConfigMap, and
// the statistics count addresses, not Services.
func TestSharingCountsOneEntry(t *testing.T) {
	l, _ := newLedger(t, "10.0.0.0/29", nil, nil, nil, nil)
	ensure(t, l, svc("a/dns-tcp", shares("dns", tcp(53))))
	one := l.Stats()
	ensure(t, l, svc("a/dns-udp", shares("dns", udp(53))))
	if got := l.Stats(); got.Entries != 1 || got.Size != one.Size {
		t.Errorf("two sharers: %d entries of size %+v; want 1 of %+v", got.Entries, got.Size, one.Size)
	}
	release(t, l, uidOf("a/dns-tcp"))
	release(t, l, uidOf("a/dns-udp"))
	if got := l.Stats(); got.Entries != 0 || got.Size != (Size{}) {
		t.Errorf("no sharer left: %d entries of size %+v; want none", got.Entries, got.Size)
	}
}

// TestSharingInvariants drives a ledger through random ensures, releases, deletions
// and status changes of Services with a few sharing keys and ports, and checks after
// every step: the Services holding one address share one namespace and key, no two
// serve the same port, none is Local unless alone; the view names the lowest by key
// of each address's holders; the size and the entry count are those of the view.
func TestSharingInvariants(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { sharingWalk(t, seed) })
	}
}

func sharingWalk(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	l, _ := newLedger(t, "10.0.0.0/29", nil, nil, nil, nil)
	var pool []Service
	for _, ns := range []string{"a", "b"} {
		for i := range 6 {
			s := svc(fmt.Sprintf("%s/s%d", ns, i))
			s.Share = []string{"", "k1", "k2"}[i%3]
			s.Ports = []Port{tcp(int32(50 + i%4))}
			s.Local = i == 5
			pool = append(pool, s)
		}
	}
	for step := range 3000 {
		s := pool[rng.IntN(len(pool))]
		switch rng.IntN(7) {
		case 0, 1:
			_, _, _ = l.Ensure(s)
		case 2:
			_, _, _ = l.Release(s.UID)
		case 3:
			l.ServiceGone(s.UID)
		case 4: // its status shows what it holds, or another Service's address
			if a, ok := l.Holding(pool[rng.IntN(len(pool))].UID); ok {
				s.Status = a
			}
			l.ObserveService(s)
		case 5: // its ports change
			s.Ports = []Port{tcp(int32(50 + rng.IntN(4)))}
			_, _, _ = l.Ensure(s)
		case 6: // a takeover: rebuilt from the statuses (what each holds) and the view
			var all []Service
			for _, p := range pool {
				p.Status, _ = l.Holding(p.UID)
				all = append(all, p)
			}
			if err := l.Rebuild(all, snapshot(nil, published(l))); err != nil {
				t.Fatal(err)
			}
		}
		if msg := sharingViolation(l); msg != "" {
			t.Fatalf("step %d (%s): %s", step, s.Key, msg)
		}
	}
}

func sharingViolation(l *Ledger) string {
	l.mu.Lock()
	holders := map[netip.Addr][]*record{}
	for _, r := range l.services {
		if r.addr.IsValid() {
			holders[r.addr] = append(holders[r.addr], r)
		}
	}
	var size Size
	for addr, hs := range holders {
		o := l.owners[addr]
		if o == nil || o.svc == nil || len(o.holders()) != len(hs) {
			l.mu.Unlock()
			return fmt.Sprintf("%s: %d records hold it, its owner lists %v", addr, len(hs), o)
		}
		for _, h := range hs {
			if h.key < o.svc.key {
				l.mu.Unlock()
				return fmt.Sprintf("%s: the entry names %s, but %s holds it too", addr, o.svc.key, h.key)
			}
			for _, g := range hs {
				if g != h && (g.namespace != h.namespace || g.share == "" || g.share != h.share || g.local) {
					l.mu.Unlock()
					return fmt.Sprintf("%s held by %s and %s, which may not share", addr, g.key, h.key)
				}
				if g != h && slices.ContainsFunc(g.ports, func(p Port) bool { return slices.Contains(h.ports, p) }) {
					l.mu.Unlock()
					return fmt.Sprintf("%s held by %s and %s with colliding ports %v / %v", addr, g.key, h.key, g.ports, h.ports)
				}
			}
		}
		size = size.add(entrySize(addr, o.svc.entry), 1)
	}
	got := l.size
	l.mu.Unlock()
	if got != size {
		return fmt.Sprintf("size %+v, the held entries take %+v", got, size)
	}
	if n := l.Stats().Entries; n != len(holders) {
		return fmt.Sprintf("Stats: %d entries, %d addresses held", n, len(holders))
	}
	return ""
}
