// Package ledger decides which Service holds which address. It is the provider's
// memory: rebuilt from what Kubernetes keeps (each Service's status first, then the
// published ConfigMap), kept current by informer events, and read by the ConfigMap
// writer as the view to publish. It has no API client: every method is a short
// decision in memory under one lock, so no caller ever waits on the network here.
//
// It is the one home of "who holds what": each address in use has one owner, a
// Service (by UID) or a key someone else wrote; the allocator below it only counts
// free slots.
package ledger

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Service is what the ledger needs to know of a Kubernetes Service.
type Service struct {
	UID        types.UID
	Key        string // "<namespace>/<name>"
	Namespace  string
	Wants      bool       // a LoadBalancer this provider serves (its class, or none unless class-only)
	Status     netip.Addr // the IPv4 address in status.loadBalancer, if any
	Request    netip.Addr // the address it asks for, if any
	RequestErr error      // the request cannot be read (the Service's own mistake)
	Pool       string     // the pool it names, if any
	Method     vipconfig.Method
	// Share is the sharing key: Services of one namespace with the same key may
	// hold one address while their Ports do not collide and none is Local ("":
	// shares nothing).
	Share string
	Ports []Port
	Local bool // externalTrafficPolicy Local: its nodes are its endpoints' nodes
}

// Port is one port a Service serves: two sharers of an address may not both serve it.
type Port struct {
	Protocol string
	Number   int32
}

func (p Port) String() string { return fmt.Sprintf("%s/%d", p.Protocol, p.Number) }

// Options are the operator's rules for requests.
type Options struct {
	// Pools are the address pools; nil while the pools file is invalid at start,
	// when nothing new is handed out (PoolsErr says why).
	Pools    *poolconfig.Config
	PoolsErr error
	// AllowOutsidePools lets a Service request an address outside every pool, as
	// the 2017 provider did. OutsideHint tells a user how the operator turns it on.
	AllowOutsidePools bool
	OutsideHint       string
	// Forbidden are blocks never handed out, such as the cluster's Service CIDR.
	Forbidden []netip.Prefix
	// ConfigMap names the published ConfigMap in messages.
	ConfigMap string
	// Capacity is what the ConfigMap's entries may take: zero means no limit.
	Capacity Size
	// Family is the one address family the ledger decides and publishes (see
	// family.go); the zero value is IPv4, the legacy ConfigMap.
	Family vipconfig.Family
	// Current reports whether the Service (by UID) still wants a load balancer as
	// the informer's cache says now (nil: always). Ensure asks it under the lock:
	// two controllers may act on one Service (ours, and the upstream one cleaning
	// up), and a sync that read the Service before its deletion must not take an
	// address back after the other one released it.
	Current func(svc Service) bool
}

// Size is what entries take in the ConfigMap: data (keys and values) and the
// ownership annotation, which the API server limit separately.
type Size struct{ Data, Annotation int }

func (s Size) add(o Size, sign int) Size {
	return Size{s.Data + sign*o.Data, s.Annotation + sign*o.Annotation}
}

// fits reports whether s stays within capacity c (zero: unlimited).
func (s Size) fits(c Size) bool {
	return c == Size{} || (s.Data <= c.Data && s.Annotation <= c.Annotation)
}

// record is what the ledger knows of one Service object (one UID).
type record struct {
	uid       types.UID
	key       string // "<namespace>/<name>", for entries and messages
	namespace string
	method    vipconfig.Method // the forward method it asks for, as last seen
	addr      netip.Addr       // the address it holds, if any
	entry     vipconfig.Entry  // the entry published for addr
	request   netip.Addr       // the address it waits for, if any
	status    netip.Addr       // the address its status shows, if any
	confirmed bool             // its status has shown addr: Kubernetes keeps it now
	released  bool             // its load balancer was deleted: its status claims nothing
	conflict  netip.Addr       // the address of the last conflict reported for it
	share     string           // its sharing key ("": none)
	ports     []Port
	local     bool
	unshared  netip.Addr // a shared address it had to give up: its status is not followed there
}

// strays reports whether r's status shows an address the ledger must follow: not
// the one r holds, while r holds none or one its status showed before (a status
// that has not caught up with a new decision yet is not followed).
func (r *record) strays() bool {
	return !r.released && r.status.IsValid() && r.status != r.addr && r.status != r.unshared && (!r.addr.IsValid() || r.confirmed)
}

// owner is who has one address in use: a Service holding it (svc.addr), a Service
// waiting for it that has it reserved (svc.request), a key someone else wrote, or
// a held address that such a key blocks (svc and foreign both set: a clash).
// Services sharing a held address are svc, the lowest by key (its entry is the one
// published), and also.
type owner struct {
	svc     *record
	also    []*record
	foreign bool
	value   string // the foreign key's value
}

// Ledger is safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	opts     Options
	alloc    *ipam.Allocator
	served   map[string]bool // the pools with ranges of the ledger's family
	services map[types.UID]*record
	owners   map[netip.Addr]*owner // every address in use; its slot is taken in alloc
	size     Size                  // published size of the held entries
	gen      uint64                // bumped on every change of the view
	ready    bool                  // rebuilt from the cluster
	outside  map[netip.Addr]bool   // held addresses outside every pool, reported once
	report   func(Event)           // tells the caller what people should hear of
}

// New returns an empty ledger that refuses decisions until Rebuild.
func New(opts Options, report func(Event)) (*Ledger, error) {
	alloc, served, err := newAllocator(opts)
	if err != nil {
		return nil, err
	}
	if report == nil {
		report = func(Event) {}
	}
	return &Ledger{opts: opts, alloc: alloc, served: served, report: report, services: map[types.UID]*record{},
		owners: map[netip.Addr]*owner{}, outside: map[netip.Addr]bool{}}, nil
}

// Holds reports whether the Service holds addr.
func (l *Ledger) Holds(uid types.UID, addr netip.Addr) bool {
	a, ok := l.Holding(uid)
	return ok && a == addr
}

// Holding returns the Service's address, if it holds one.
func (l *Ledger) Holding(uid types.UID) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.services[uid]; ok && r.addr.IsValid() {
		return r.addr, true
	}
	return netip.Addr{}, false
}

// View is what should be published: every held entry, except those a foreign
// key blocks, and the usage summary.
func (l *Ledger) View() vipconfig.View {
	l.mu.Lock()
	defer l.mu.Unlock()
	entries := make(map[netip.Addr]vipconfig.Entry, len(l.services))
	for _, r := range l.services {
		if l.publishes(r) && !l.owners[r.addr].foreign {
			entries[r.addr] = r.entry
		}
	}
	return vipconfig.View{Gen: l.gen, Entries: entries, Usage: l.usageSummary()}
}

// Ready reports whether the ledger has been rebuilt and may decide.
func (l *Ledger) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// Gen is the generation of the view; a write of this generation or later
// carries every decision made so far.
func (l *Ledger) Gen() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// recordOf returns the Service's record, made or brought up to date.
func (l *Ledger) recordOf(svc Service) *record {
	r, ok := l.services[svc.UID]
	if !ok {
		r = &record{uid: svc.UID}
		l.services[svc.UID] = r
	}
	r.key, r.namespace, r.status, r.method = svc.Key, svc.Namespace, svc.Status, svc.Method
	r.share, r.ports, r.local = svc.Share, svc.Ports, svc.Local
	if r.status != r.unshared {
		r.unshared = netip.Addr{}
	}
	r.confirmed = r.confirmed || (r.addr.IsValid() && r.status == r.addr)
	return r
}

// claim makes r own addr, whose slot it must be free to take: free, reserved for
// r's own request, or held by nobody but r.
func (l *Ledger) claim(r *record, addr netip.Addr) error {
	o, used := l.owners[addr]
	switch {
	case !used:
		if err := l.alloc.Take(addr); err != nil {
			return err
		}
		l.owners[addr] = &owner{svc: r}
	case o.svc != r || o.foreign:
		return ipam.ErrInUse
	}
	return nil
}

// hold records that r holds addr (already claimed for it) with entry; an address
// it held before is given up.
func (l *Ledger) hold(r *record, addr netip.Addr, entry vipconfig.Entry) {
	if r.addr == addr {
		l.setEntry(r, entry)
		return
	}
	l.take(r, addr, entry)
	l.owners[addr].svc = r
	l.size = l.size.add(entrySize(addr, entry), 1)
	l.elect(addr)
}

// take makes r hold addr with entry, giving up the address it held before; who
// publishes addr is the caller's to settle.
func (l *Ledger) take(r *record, addr netip.Addr, entry vipconfig.Entry) {
	if r.addr.IsValid() {
		l.drop(r)
	}
	if r.request == addr {
		r.request = netip.Addr{}
	}
	r.addr, r.entry, r.confirmed = addr, entry, r.status == addr
	l.gen++
}

// setEntry updates the entry r asks for at the address it holds.
func (l *Ledger) setEntry(r *record, entry vipconfig.Entry) {
	if r.entry == entry {
		return
	}
	if l.publishes(r) {
		l.size = l.size.add(entrySize(r.addr, r.entry), -1).add(entrySize(r.addr, entry), 1)
		l.gen++
	}
	r.entry = entry
}

// publishes reports whether r's entry is the one published for the address it holds.
func (l *Ledger) publishes(r *record) bool {
	return r.addr.IsValid() && l.owners[r.addr].svc == r
}

// drop makes r give up the address it holds, and passes the address on unless
// others share it.
func (l *Ledger) drop(r *record) (netip.Addr, bool) {
	addr, held := l.unhold(r)
	if held && !l.leaveShare(r, addr) {
		l.passOn(addr, r)
	}
	return addr, held
}

// unhold makes r give up the address it holds, leaving its owner to the caller.
func (l *Ledger) unhold(r *record) (netip.Addr, bool) {
	addr := r.addr
	if !addr.IsValid() {
		return addr, false
	}
	if l.publishes(r) {
		l.size = l.size.add(entrySize(addr, r.entry), -1)
		delete(l.outside, addr)
	}
	r.addr, r.entry, r.confirmed = netip.Addr{}, vipconfig.Entry{}, false
	l.gen++
	return addr, true
}

// passOn gives addr, just given up by from, to whoever has the best claim on it:
// a key someone wrote keeps it blocked; another Service whose status shows it
// takes it (the status is the truth); a waiting request from the same namespace
// (any namespace when a foreign key left) gets it reserved; otherwise it is free.
func (l *Ledger) passOn(addr netip.Addr, from *record) {
	o := l.owners[addr]
	if o.svc == from {
		o.svc = nil
	}
	if o.foreign {
		return
	}
	if next := l.shownBy(addr, from); next != nil {
		o.svc = next
		l.hold(next, addr, next.wantedEntry())
		return
	}
	if next := l.waiter(addr, from); next != nil {
		o.svc = next
		return
	}
	delete(l.owners, addr)
	l.alloc.Free(addr)
}

// shownBy finds another Service whose status shows addr, to follow, first by key.
func (l *Ledger) shownBy(addr netip.Addr, except *record) *record {
	return l.first(func(r *record) bool { return r != except && r.status == addr && r.strays() })
}

// waiter finds the first Service (by key) waiting for addr: from the namespace
// of from, or any namespace when from is nil.
func (l *Ledger) waiter(addr netip.Addr, from *record) *record {
	return l.first(func(r *record) bool {
		return r.request == addr && r != from && (from == nil || r.namespace == from.namespace)
	})
}

func (l *Ledger) first(match func(*record) bool) *record {
	var best *record
	for _, r := range l.services {
		if match(r) && (best == nil || r.key < best.key) {
			best = r
		}
	}
	return best
}

// wantedEntry is the entry the Service asks for as last seen: its name and forward method.
func (r *record) wantedEntry() vipconfig.Entry {
	return vipconfig.Entry{Service: r.key, Method: r.method}
}

// cancelRequest stops r waiting, and passes on an address reserved for it.
func (l *Ledger) cancelRequest(r *record) {
	addr := r.request
	if !addr.IsValid() {
		return
	}
	r.request = netip.Addr{}
	if o, ok := l.owners[addr]; ok && o.svc == r {
		l.passOn(addr, r)
	}
}

// entrySize is what one entry costs in the ConfigMap: its key and value, and
// its key and a comma in the ownership annotation.
func entrySize(addr netip.Addr, e vipconfig.Entry) Size {
	k := len(addr.String())
	return Size{Data: k + len(e.Value()), Annotation: k + 1}
}

// errPoolsInvalid is the message of an invalid pools file at start.
func (l *Ledger) errPoolsInvalid() error {
	return &AllocationError{Reason: ReasonPoolsInvalid, Err: fmt.Errorf(
		"%w: no new address is handed out until the pools file is valid again (addresses already given stay): %w", ErrPoolsInvalid, l.opts.PoolsErr)}
}

// ErrPoolsInvalid marks refusals while the pools file is invalid.
var ErrPoolsInvalid = errors.New("the address pools file is invalid")
