package ledger

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// FuzzLedger runs random sequences of decisions, deletions, statuses and hand-written
// keys, and checks after each step what must always hold: no address is held twice,
// the view publishes only held addresses, never one a hand-written key holds, and a
// Service whose status reports its address keeps it unless it asks for another.
func FuzzLedger(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0, 0, 16, 32, 48, 64, 80, 96, 112, 128, 3, 19})
	f.Fuzz(func(t *testing.T, ops []byte) {
		l, _ := newLedger(t, "10.0.0.0/29", func(o *Options) { o.AllowOutsidePools = true }, nil, nil, nil)
		foreign := map[string]string{}
		confirmed := map[string]netip.Addr{}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%6, ops[i+1]
			key := fmt.Sprintf("ns%d/s%d", arg%2, arg%5)
			addr := netip.AddrFrom4([4]byte{10, 0, 0, arg % 10})
			switch op {
			case 0:
				_, _, _ = l.Ensure(svc(key))
			case 1: // asking for another address is the one way to move
				if got, _, err := l.Ensure(svc(key, asks(addr.String()))); err == nil && got != confirmed[key] {
					delete(confirmed, key)
				}
			case 2:
				_, _, _ = l.Release(key)
				delete(confirmed, key)
			case 3: // the status patch lands
				if a, ok := l.Holding(key); ok {
					l.ObserveService(svc(key, status(a.String())))
					confirmed[key] = a
				}
			case 4:
				foreign[addr.String()] = "hand/written"
				l.ObserveConfigMap(vipconfig.Snapshot{Data: foreign, Listed: map[string]bool{}})
			case 5:
				delete(foreign, addr.String())
				l.ObserveConfigMap(vipconfig.Snapshot{Data: foreign, Listed: map[string]bool{}})
			}
			checkInvariants(t, l, foreign, confirmed)
		}
	})
}

func checkInvariants(t *testing.T, l *Ledger, foreign map[string]string, confirmed map[string]netip.Addr) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[netip.Addr]string{}
	for key, h := range l.held {
		if other, dup := seen[h.addr]; dup {
			t.Fatalf("%s held by %s and %s", h.addr, other, key)
		}
		seen[h.addr] = key
		if holder, _ := l.alloc.Holder(h.addr); holder != key {
			t.Fatalf("%s held by %s in the ledger but by %q in the allocator", h.addr, key, holder)
		}
	}
	for key, a := range confirmed {
		if h, ok := l.held[key]; !ok || h.addr != a {
			t.Fatalf("%s lost %s, which its status reports", key, a)
		}
	}
	for addr, e := range l.viewLocked() {
		if seen[addr] != e.Service {
			t.Fatalf("view publishes %s for %s, which does not hold it", addr, e.Service)
		}
		if _, hand := foreign[addr.String()]; hand {
			t.Fatalf("view overwrites the hand-written key %s", addr)
		}
	}
}
