// Package ledger decides which Service holds which address. It is the provider's
// memory: rebuilt from what Kubernetes keeps (each Service's status first, then the
// published ConfigMap), kept current by informer events, and read by the ConfigMap
// writer as the view to publish. It has no API client: every method is a short
// decision in memory under one lock, so no caller ever waits on the network here.
package ledger

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Service is what the ledger needs to know of a Kubernetes Service.
type Service struct {
	Key        string // "<namespace>/<name>"
	Namespace  string
	Wants      bool       // type LoadBalancer without a loadBalancerClass
	Status     netip.Addr // the IPv4 address in status.loadBalancer, if any
	Request    netip.Addr // the address it asks for, if any
	RequestErr error      // the request cannot be read (the Service's own mistake)
	Pool       string     // the pool it names, if any
	Method     vipconfig.Method
}

// Options are the operator's rules for requests.
type Options struct {
	Pools *poolconfig.Config
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

// holding is an address a Service holds and the entry published for it.
// confirmed means the Service's status reports it: Kubernetes keeps it now.
type holding struct {
	addr      netip.Addr
	entry     vipconfig.Entry
	confirmed bool
}

// request is an address a Service asks for but does not hold yet.
type request struct {
	addr      netip.Addr
	namespace string
}

// Ledger is safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	opts     Options
	alloc    *ipam.Allocator
	held     map[string]*holding   // Service key → its address
	requests map[string]request    // Service key → the address it waits for
	foreign  map[netip.Addr]string // keys others wrote → their values
	clashes  map[netip.Addr]string // foreign keys on addresses Services hold → the holder
	size     Size                  // published size of the held entries
	gen      uint64                // bumped on every change of the view
	ready    bool                  // rebuilt from the cluster
	outside  map[netip.Addr]bool   // held addresses outside every pool, reported once
	report   func(Event)           // tells the caller what people should hear of
}

// New returns an empty ledger that refuses decisions until Rebuild.
func New(opts Options, report func(Event)) (*Ledger, error) {
	alloc, err := ipam.NewAllocator(opts.Pools.IPAMPools()...)
	if err != nil {
		return nil, fmt.Errorf("address pools: %w", err)
	}
	if report == nil {
		report = func(Event) {}
	}
	return &Ledger{opts: opts, alloc: alloc, report: report, held: map[string]*holding{},
		requests: map[string]request{}, foreign: map[netip.Addr]string{}, clashes: map[netip.Addr]string{},
		outside: map[netip.Addr]bool{}}, nil
}

// foreignHolder is the allocator's holder name for keys others wrote.
func (l *Ledger) foreignHolder() string {
	return fmt.Sprintf("an entry in ConfigMap %s that keepalived-cloud-provider does not manage", l.opts.ConfigMap)
}

// Ready reports whether the ledger has been rebuilt and may decide.
func (l *Ledger) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// Holds reports whether the Service holds addr (published, or blocked by a key
// someone else wrote, which the Service keeps all the same).
func (l *Ledger) Holds(key string, addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held[key]
	return ok && h.addr == addr
}

// Holding returns the Service's address, if it holds one.
func (l *Ledger) Holding(key string) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held[key]
	if !ok {
		return netip.Addr{}, false
	}
	return h.addr, true
}

// View is what should be published: every held entry, except those a foreign
// key blocks, and the usage summary.
func (l *Ledger) View() vipconfig.View {
	l.mu.Lock()
	defer l.mu.Unlock()
	return vipconfig.View{Gen: l.gen, Ready: l.ready, Entries: l.viewLocked(), Usage: l.usageSummary()}
}

func (l *Ledger) viewLocked() map[netip.Addr]vipconfig.Entry {
	entries := make(map[netip.Addr]vipconfig.Entry, len(l.held))
	for _, h := range l.held {
		if _, blocked := l.clashes[h.addr]; !blocked {
			entries[h.addr] = h.entry
		}
	}
	return entries
}

// Gen is the generation of the view; a write of this generation or later
// carries every decision made so far.
func (l *Ledger) Gen() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// hold records that key holds addr (already reserved for it) with entry.
func (l *Ledger) hold(key string, addr netip.Addr, entry vipconfig.Entry, confirmed bool) {
	if old, ok := l.held[key]; ok {
		l.size = l.size.add(entrySize(old.addr, old.entry), -1)
	}
	l.held[key] = &holding{addr: addr, entry: entry, confirmed: confirmed}
	l.size = l.size.add(entrySize(addr, entry), 1)
	l.gen++
}

// drop forgets key's holding and frees its address for a waiting request of the
// same namespace, if any; an address someone hand-wrote a key for stays blocked.
func (l *Ledger) drop(key string) (netip.Addr, bool) {
	h, ok := l.held[key]
	if !ok {
		return netip.Addr{}, false
	}
	delete(l.held, key)
	delete(l.clashes, h.addr)
	delete(l.outside, h.addr)
	l.size = l.size.add(entrySize(h.addr, h.entry), -1)
	l.gen++
	if !l.alloc.Release(h.addr, key) {
		return h.addr, true
	}
	if _, hand := l.foreign[h.addr]; hand {
		_ = l.alloc.Reserve(h.addr, l.foreignHolder()) // the key someone wrote holds it now
	} else {
		l.handOff(h.addr, namespaceOf(key))
	}
	return h.addr, true
}

// handOff gives a freed address to the first waiting request for it (in key
// order) from namespace; "" means any namespace (a foreign key went away).
func (l *Ledger) handOff(addr netip.Addr, namespace string) {
	keys := make([]string, 0, 1)
	for key, r := range l.requests {
		if r.addr == addr && (namespace == "" || r.namespace == namespace) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		if l.alloc.Reserve(addr, key) == nil {
			return
		}
	}
}

// entrySize is what one entry costs in the ConfigMap: its key and value, and
// its key and a comma in the ownership annotation.
func entrySize(addr netip.Addr, e vipconfig.Entry) Size {
	k := len(addr.String())
	return Size{Data: k + len(e.Value()), Annotation: k + 1}
}

func namespaceOf(key string) string {
	ns, _, _ := strings.Cut(key, "/")
	return ns
}
