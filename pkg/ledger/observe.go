package ledger

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Event is something the ledger noticed that a person should hear of.
type Event struct {
	Service string // the Service concerned ("" for none)
	Addr    netip.Addr
	Kind    EventKind
	Message string
}

// EventKind says what happened.
type EventKind string

const (
	// Clash: someone else wrote a key for an address a Service holds. The Service
	// keeps its address; the key is left alone and our entry is not written.
	Clash EventKind = "ForeignEntryOnAddress"
	// Orphan: the Service is gone without releasing its address (its finalizer was
	// removed by hand); the entry is removed and the address freed.
	Orphan EventKind = "OrphanedAddressFreed"
	// Stale: a ConfigMap entry of ours at restore that no Service backs.
	Stale EventKind = "StaleEntryRemoved"
	// Outside: a held address lies outside every pool after a pool change.
	Outside EventKind = "AddressOutsidePools"
)

// Rebuild replaces everything the ledger knows with what the cluster keeps, in
// order of authority: each Service's status; then, for Services whose status has no
// address yet (a crash between publishing and the status patch), the entry of ours
// that names them, if no status holds that address; then the keys others wrote;
// then the addresses Services ask for. Entries of ours that nothing backs are left
// out of the view, so the next write removes them.
func (l *Ledger) Rebuild(services []Service, snap vipconfig.Snapshot) error {
	alloc, err := ipam.NewAllocator(l.opts.Pools.IPAMPools()...)
	if err != nil {
		return fmt.Errorf("address pools: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alloc, l.size = alloc, Size{}
	clear(l.held)
	clear(l.requests)
	clear(l.foreign)
	clear(l.clashes)
	clear(l.outside)
	slices.SortFunc(services, func(a, b Service) int { return strings.Compare(a.Key, b.Key) })
	byKey := map[string]*Service{}
	for i := range services {
		svc := &services[i]
		byKey[svc.Key] = svc
		if svc.Wants && svc.Status.IsValid() && l.alloc.Reserve(svc.Status, svc.Key) == nil {
			l.hold(svc.Key, svc.Status, vipconfig.Entry{Service: svc.Key, Method: svc.Method}, true)
		}
	}
	l.adopt(snap, byKey)
	l.observe(snap)
	for i := range services {
		if svc := &services[i]; svc.Wants {
			if _, holds := l.held[svc.Key]; !holds {
				want, err := l.permitted(*svc)
				l.track(svc.Key, svc.Namespace, want, err)
			}
		}
	}
	l.ready = true
	l.gen++
	l.reportOutside()
	return nil
}

// adopt holds the entries of ours that name a Service waiting for its status.
func (l *Ledger) adopt(snap vipconfig.Snapshot, services map[string]*Service) {
	for _, key := range slices.Sorted(maps.Keys(snap.Listed)) {
		addr, entry, err := vipconfig.ParseEntry(key, snap.Data[key])
		if err != nil {
			continue // an edited value: repaired or reported once the view is published
		}
		svc, exists := services[entry.Service]
		_, holds := l.held[entry.Service]
		switch {
		case exists && svc.Wants && !holds && l.alloc.Reserve(addr, entry.Service) == nil:
			l.hold(entry.Service, addr, entry, false)
		case holds && l.held[entry.Service].addr == addr:
		default:
			l.report(Event{Service: entry.Service, Addr: addr, Kind: Stale, Message: fmt.Sprintf(
				"ConfigMap %s lists %s for %s, which no Service holds; the entry is removed", l.opts.ConfigMap, addr, entry.Service)})
		}
	}
}

// ObserveConfigMap learns the keys others wrote from what the ConfigMap holds.
// A key of ours is one the ownership annotation lists or whose value is the entry
// the ledger holds for its address; any other IPv4 key blocks its address.
func (l *Ledger) ObserveConfigMap(snap vipconfig.Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready {
		l.observe(snap)
	}
}

func (l *Ledger) observe(snap vipconfig.Snapshot) {
	seen := map[netip.Addr]bool{}
	for key, value := range snap.Data {
		addr, err := netip.ParseAddr(key)
		if err != nil || !addr.Is4() || addr.String() != key || snap.Listed[key] {
			continue
		}
		if h, held := l.holderOf(addr); held && h.entry.Value() == value {
			continue
		}
		seen[addr] = true
		if _, known := l.foreign[addr]; !known {
			l.foreignAppeared(addr, value)
		}
		l.foreign[addr] = value
	}
	for addr := range l.foreign {
		if !seen[addr] {
			l.foreignGone(addr)
		}
	}
}

// holderOf finds the holding of addr, if a Service holds it.
func (l *Ledger) holderOf(addr netip.Addr) (*holding, bool) {
	key, ok := l.alloc.Holder(addr)
	if !ok {
		return nil, false
	}
	h, ok := l.held[key]
	if !ok || h.addr != addr {
		return nil, false
	}
	return h, true
}

// foreignAppeared blocks addr for a key someone else wrote. A Service whose status
// reports addr keeps it (reported); a Service that was only about to get it gives
// it up and is given another one on its next sync.
func (l *Ledger) foreignAppeared(addr netip.Addr, value string) {
	holder, taken := l.alloc.Holder(addr)
	h, held := l.held[holder]
	switch {
	case taken && held && h.addr == addr && h.confirmed:
		l.clashes[addr] = holder
		l.gen++
		l.report(Event{Service: holder, Addr: addr, Kind: Clash, Message: fmt.Sprintf(
			"ConfigMap %s has the key %s with value %q, written by someone else, for this Service's address; the Service keeps %s and the key is left alone: remove the key so that the entry can be published",
			l.opts.ConfigMap, addr, value, addr)})
		return
	case taken && held && h.addr == addr:
		delete(l.held, holder)
		l.size = l.size.add(entrySize(addr, h.entry), -1)
		l.gen++
		l.alloc.Release(addr, holder)
	case taken && holder != l.foreignHolder():
		l.alloc.Release(addr, holder) // a waiting request's hold; it keeps waiting
	}
	_ = l.alloc.Reserve(addr, l.foreignHolder())
}

// foreignGone frees addr when the key someone else wrote is removed.
func (l *Ledger) foreignGone(addr netip.Addr) {
	delete(l.foreign, addr)
	if _, clashed := l.clashes[addr]; clashed {
		delete(l.clashes, addr)
		l.gen++ // the held entry can be published now
		return
	}
	if l.alloc.Release(addr, l.foreignHolder()) {
		l.handOff(addr, "")
	}
}

// ObserveService keeps what a Service asks for current while it waits for its turn
// in the service controller's queue, and notes when its status reports its address.
func (l *Ledger) ObserveService(svc Service) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return
	}
	if h, holds := l.held[svc.Key]; holds {
		h.confirmed = h.confirmed || svc.Status == h.addr
		return
	}
	if !svc.Wants {
		l.track(svc.Key, svc.Namespace, netip.Addr{}, nil)
		return
	}
	want, err := l.permitted(svc)
	l.track(svc.Key, svc.Namespace, want, err)
}

// ServiceGone forgets a deleted Service. If it still held an address (its finalizer
// was removed by hand, so nobody released it) the address is freed.
func (l *Ledger) ServiceGone(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return
	}
	l.track(key, namespaceOf(key), netip.Addr{}, nil)
	if addr, held := l.drop(key); held {
		l.report(Event{Service: key, Addr: addr, Kind: Orphan, Message: fmt.Sprintf(
			"Service %s was deleted without releasing %s (was its finalizer removed by hand?); the entry is removed and the address freed", key, addr)})
	}
}

// Orphans lists the Services that hold an address but do not exist, for a sweep.
func (l *Ledger) Orphans(exists func(key string) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []string
	for key := range l.held {
		if !exists(key) {
			gone = append(gone, key)
		}
	}
	return gone
}

// SetPools puts new pools in force. Every held address stays with its holder;
// addresses that fall outside every pool keep working and are reported.
func (l *Ledger) SetPools(pools *poolconfig.Config) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next, _, err := l.alloc.Repool(pools.IPAMPools()...)
	if err != nil {
		return err
	}
	l.alloc, l.opts.Pools = next, pools
	l.gen++ // the usage summary changed
	l.reportOutside()
	return nil
}

// reportOutside reports each held address newly outside every pool, once.
func (l *Ledger) reportOutside() {
	for key, h := range l.held {
		_, in := l.alloc.PoolOf(h.addr)
		switch {
		case in:
			delete(l.outside, h.addr)
		case !l.outside[h.addr]:
			l.outside[h.addr] = true
			l.report(Event{Service: key, Addr: h.addr, Kind: Outside,
				Message: "Address lies outside every pool now; it stays with its Service and is not handed to anyone else"})
		}
	}
}
