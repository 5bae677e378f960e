package ledger

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Event is something the ledger noticed that a person should hear of.
type Event struct {
	Service string // the Service concerned, "<namespace>/<name>" ("" for none)
	UID     types.UID
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
	// Conflict: two Services' statuses, or a status and the ledger, give one
	// address to two Services.
	Conflict EventKind = "AddressConflict"
)

// Rebuild replaces everything the ledger knows with what the cluster keeps, in
// order of authority: each Service's status; then, for Services whose status has no
// address yet (a crash between publishing and the status patch), the entry of ours
// that names them, if no status holds that address; then the keys others wrote;
// then the addresses Services ask for. Entries of ours that nothing backs are left
// out of the view, so the next write removes them.
func (l *Ledger) Rebuild(services []Service, snap vipconfig.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	alloc, served, err := newAllocator(l.opts)
	if err != nil {
		return err
	}
	l.alloc, l.served, l.size = alloc, served, Size{}
	clear(l.services)
	clear(l.owners)
	clear(l.outside)
	// A conflict goes to the Service the ConfigMap publishes the address for, as before the rebuild.
	slices.SortFunc(services, func(a, b Service) int {
		return cmp.Or(cmp.Compare(l.unpublished(snap, a), l.unpublished(snap, b)), cmp.Compare(a.Key, b.Key))
	})
	byKey := map[string]*record{}
	for _, svc := range services {
		if svc.Wants {
			r := l.recordOf(svc)
			byKey[svc.Key] = r
			l.follow(r)
		}
	}
	l.adopt(snap, byKey)
	l.observe(snap)
	for _, svc := range services {
		if r := byKey[svc.Key]; r != nil && !r.addr.IsValid() {
			want, err := l.permitted(svc)
			l.track(r, want, err)
		}
	}
	for _, r := range byKey {
		if !r.addr.IsValid() && !r.request.IsValid() && !r.status.IsValid() {
			delete(l.services, r.uid)
		}
	}
	l.ready = true
	l.gen++
	l.reportOutside()
	return nil
}

// unpublished is 0 if snap publishes the address svc's status shows for svc, else 1.
func (l *Ledger) unpublished(snap vipconfig.Snapshot, svc Service) int {
	key := l.keyOf(svc.Status)
	if e, err := vipconfig.ParseValue(snap.Data[key]); err == nil && snap.Listed[key] && e.Service == svc.Key {
		return 0
	}
	return 1
}

// adopt holds the entries of ours that name a Service waiting for its status.
func (l *Ledger) adopt(snap vipconfig.Snapshot, services map[string]*record) {
	for _, key := range slices.Sorted(maps.Keys(snap.Listed)) {
		addr, entry, err := l.opts.Family.ParseEntry(key, snap.Data[key])
		if err != nil {
			continue // an edited value: repaired or reported once the view is published
		}
		r, exists := services[entry.Service]
		switch {
		case exists && r.addr == addr:
		case exists && !r.addr.IsValid() && l.claim(r, addr) == nil:
			l.hold(r, addr, entry)
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
		addr, ok := l.opts.Family.CanonicalKey(key)
		if !ok {
			continue
		}
		var want vipconfig.Entry
		h := l.holderOf(addr)
		if h != nil {
			want = h.entry
		}
		if snap.Ours(key, want, h != nil) {
			continue
		}
		seen[addr] = true
		l.foreignAppeared(addr, value)
	}
	for addr, o := range l.owners {
		if o.foreign && !seen[addr] {
			l.foreignGone(addr, o)
		}
	}
}

// holderOf is the Service holding addr, if any.
func (l *Ledger) holderOf(addr netip.Addr) *record {
	if o, ok := l.owners[addr]; ok && o.svc != nil && o.svc.addr == addr {
		return o.svc
	}
	return nil
}

// foreignAppeared blocks addr for a key someone else wrote. A Service whose status
// reports addr keeps it (reported); a Service that was only about to get it gives
// it up and is given another one on its next sync.
func (l *Ledger) foreignAppeared(addr netip.Addr, value string) {
	o, used := l.owners[addr]
	switch {
	case used && o.foreign:
		o.value = value
		return
	case !used:
		if l.alloc.Take(addr) != nil {
			return // cannot happen: every taken slot has an owner
		}
		l.owners[addr] = &owner{foreign: true, value: value}
		return
	}
	o.foreign, o.value = true, value
	r := o.svc
	switch {
	case r == nil:
	case r.addr == addr && r.confirmed:
		l.gen++ // its entry leaves the view
		l.report(Event{Service: r.key, UID: r.uid, Addr: addr, Kind: Clash, Message: fmt.Sprintf(
			"ConfigMap %s has the key %s with value %q, written by someone else, for this Service's address; the Service keeps %s and the key is left alone: remove the key so that the entry can be published",
			l.opts.ConfigMap, l.keyOf(addr), value, addr)})
	case r.addr == addr:
		l.drop(r)   // the key keeps it: passOn leaves a foreign owner alone
		l.follow(r) // back to the address its status shows, if any
	default:
		o.svc = nil // a waiting request's reservation; it keeps waiting
	}
}

// foreignGone frees addr when the key someone else wrote is removed.
func (l *Ledger) foreignGone(addr netip.Addr, o *owner) {
	o.foreign, o.value = false, ""
	if o.svc != nil {
		l.gen++ // the held entry can be published now
		return
	}
	l.passOn(addr, nil)
}

// ObserveService follows a Service between syncs: what it asks for, and the address
// its status shows (see follow).
func (l *Ledger) ObserveService(svc Service) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return
	}
	if !svc.Wants {
		if r, ok := l.services[svc.UID]; ok {
			r.status = svc.Status
			l.track(r, netip.Addr{}, nil)
		}
		return
	}
	r := l.recordOf(svc)
	l.follow(r)
	l.keepShare(r)
	if !r.addr.IsValid() {
		want, err := l.permitted(svc)
		l.track(r, want, err)
	}
	if !r.addr.IsValid() && !r.request.IsValid() && !r.status.IsValid() {
		delete(l.services, r.uid)
	}
}

// follow makes the ledger agree with the address r's status shows: Kubernetes
// keeps statuses, and every client reads them. A free address is taken for r; one
// that Services r may share with hold is shared; one another Service holds is a
// conflict, which the holder wins while its own status shows the address too.
func (l *Ledger) follow(r *record) {
	if !r.strays() {
		return
	}
	s := r.status
	o, used := l.owners[s]
	switch {
	case !used:
		if l.alloc.Take(s) != nil {
			return // cannot happen: every taken slot has an owner
		}
		l.owners[s] = &owner{svc: r}
	case o.svc != nil && o.svc.addr == s && l.refuseShare(r, s) == nil:
		l.join(r, s, r.wantedEntry()) // a sharer of it: no conflict
		return
	case o.svc != nil && o.svc.addr == s:
		if h := statusShows(o.holders(), s); h != nil {
			l.conflict(h, r, s, fmt.Sprintf("the statuses of %s and %s both show %s; %s keeps it and %s keeps the address the provider gave it: edit or re-apply %s so that its status is corrected",
				h.key, r.key, s, h.key, r.key, r.key))
			return
		}
		losers := o.holders()
		l.conflict(losers[0], r, s, fmt.Sprintf("the status of %s shows %s, which the provider had given to %s, whose status does not show it; %s keeps it and %s is given another address at its next sync",
			r.key, s, losers[0].key, r.key, losers[0].key))
		for _, h := range losers {
			l.unhold(h)
		}
		o.also = nil
		defer func() { // once r holds s: the losers may follow their own statuses
			for _, h := range losers {
				l.follow(h)
			}
		}()
	}
	if o := l.owners[s]; o.foreign && o.svc != r {
		l.report(Event{Service: r.key, UID: r.uid, Addr: s, Kind: Clash, Message: fmt.Sprintf(
			"ConfigMap %s has the key %s, written by someone else, for the address this Service's status shows; the Service keeps %s and the key is left alone: remove the key so that the entry can be published",
			l.opts.ConfigMap, l.keyOf(s), s)})
	}
	l.owners[s].svc = r // a reservation for someone's request is taken over: that request waits on
	l.hold(r, s, r.wantedEntry())
}

// statusShows is the first of holders whose status shows addr, if any.
func statusShows(holders []*record, addr netip.Addr) *record {
	for _, h := range holders {
		if h.status == addr {
			return h
		}
	}
	return nil
}

// conflict reports, once per address, that a and b both have a claim on addr.
func (l *Ledger) conflict(a, b *record, addr netip.Addr, why string) {
	for _, r := range []*record{a, b} {
		if r.conflict == addr {
			continue
		}
		r.conflict = addr
		l.report(Event{Service: r.key, UID: r.uid, Addr: addr, Kind: Conflict, Message: "Address conflict: " + why})
	}
}

// ServiceGone forgets a deleted Service. If it still held an address (its finalizer
// was removed by hand, so nobody released it) the address is freed.
func (l *Ledger) ServiceGone(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.services[uid]
	if !l.ready || !ok {
		return
	}
	r.released = true
	l.cancelRequest(r)
	if addr, held := l.drop(r); held {
		outcome := "the entry is removed and the address freed"
		if h := l.holderOf(addr); h != nil {
			outcome = "the address stays with the Services that share it, the entry names " + h.key
		}
		l.report(Event{Service: r.key, UID: uid, Addr: addr, Kind: Orphan, Message: fmt.Sprintf(
			"Service %s was deleted without releasing %s (was its finalizer removed by hand?); %s", r.key, addr, outcome)})
	}
	delete(l.services, uid)
}

// Orphans lists the Services that hold an address but do not exist, for a sweep.
func (l *Ledger) Orphans(exists func(key string, uid types.UID) bool) []types.UID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []types.UID
	for uid, r := range l.services {
		if r.addr.IsValid() && !exists(r.key, uid) {
			gone = append(gone, uid)
		}
	}
	return gone
}

// SetPools puts new pools in force. Every held address stays with its holder;
// addresses that fall outside every pool keep working and are reported.
func (l *Ledger) SetPools(pools *poolconfig.Config) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	opts := l.opts
	opts.Pools = pools
	ps := familyPools(pools, opts.Family, opts.Forbidden)
	next, err := stack(opts.Family).Repool(slices.Collect(maps.Keys(l.owners)), ps...)
	if err != nil {
		return err
	}
	l.alloc, l.served, l.opts.Pools, l.opts.PoolsErr = next, poolNames(ps), pools, nil
	l.gen++ // the usage summary changed
	l.reportOutside()
	return nil
}

// reportOutside reports each held address newly outside every pool, once.
func (l *Ledger) reportOutside() {
	if l.opts.Pools == nil {
		return // the pools are unknown, not changed
	}
	for _, r := range l.services {
		if !r.addr.IsValid() {
			continue
		}
		_, in := l.alloc.PoolOf(r.addr)
		switch {
		case in:
			delete(l.outside, r.addr)
		case !l.outside[r.addr]:
			l.outside[r.addr] = true
			l.report(Event{Service: r.key, UID: r.uid, Addr: r.addr, Kind: Outside,
				Message: "Address lies outside every pool now; it stays with its Service and is not handed to anyone else"})
		}
	}
}
