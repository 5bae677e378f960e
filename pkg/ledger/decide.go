package ledger

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// ErrNotReady is returned before the ledger has been rebuilt from the cluster.
var ErrNotReady = errors.New("load balancer addresses are still being restored from the cluster")

// ErrConfigMapFull refuses an address whose entry would not fit in the ConfigMap.
var ErrConfigMapFull = errors.New("the ConfigMap is full")

// Failure reasons, for the failures metric.
const (
	ReasonExhausted  = "exhausted"   // no free address in the Service's pools
	ReasonInUse      = "in_use"      // the requested address is held by someone else
	ReasonNotAllowed = "not_allowed" // the pool or address is not open to the Service
	ReasonFull       = "configmap_full"
)

// AllocationError is a Service's failure to get an address, labelled for metrics.
type AllocationError struct {
	Pool, Reason string
	Err          error
}

func (e *AllocationError) Error() string { return e.Err.Error() }
func (e *AllocationError) Unwrap() error { return e.Err }

// Ensure decides the Service's address: the one it asks for, else the one it
// holds, else the one its status reports, else the lowest free one of its pools.
// It returns the generation whose publication carries the decision.
func (l *Ledger) Ensure(svc Service) (netip.Addr, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return netip.Addr{}, 0, ErrNotReady
	}
	entry := vipconfig.Entry{Service: svc.Key, Method: svc.Method}
	if h, holds := l.held[svc.Key]; holds && svc.RequestErr == nil && svc.Request == h.addr {
		// Granted before (perhaps under older rules): the rules apply when an address
		// is given, and taking it away now would be an outage.
		l.keep(svc, h.addr, entry)
		return h.addr, l.gen, nil
	}
	want, err := l.permitted(svc)
	l.track(svc.Key, svc.Namespace, want, err)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	addr, err := l.choose(svc, want)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	l.keep(svc, addr, entry)
	return addr, l.gen, nil
}

// choose picks the address as Ensure describes, reserving it for the Service.
func (l *Ledger) choose(svc Service, want netip.Addr) (netip.Addr, error) {
	h, holds := l.held[svc.Key]
	switch {
	case want.IsValid():
		if holds && h.addr == want {
			return want, nil
		}
		if err := l.alloc.Reserve(want, svc.Key); err != nil {
			return netip.Addr{}, l.inUse(svc, want, err)
		}
		return want, l.fits(svc, want, holds)
	case holds:
		return h.addr, nil
	case svc.Status.IsValid() && l.alloc.Reserve(svc.Status, svc.Key) == nil:
		return svc.Status, l.fits(svc, svc.Status, false)
	}
	addr, err := l.allocate(svc)
	if err != nil {
		return netip.Addr{}, err
	}
	return addr, l.fits(svc, addr, false)
}

// keep records the decision; a Service that moved frees its old address.
func (l *Ledger) keep(svc Service, addr netip.Addr, entry vipconfig.Entry) {
	h, holds := l.held[svc.Key]
	if holds && h.addr == addr {
		if h.entry != entry {
			l.hold(svc.Key, addr, entry, h.confirmed)
		}
		return
	}
	if holds {
		l.drop(svc.Key) // frees the old address only: the new one is reserved for svc
	}
	delete(l.requests, svc.Key)
	l.hold(svc.Key, addr, entry, svc.Status == addr)
}

// fits refuses a new address whose entry would overflow the ConfigMap, and frees it.
func (l *Ledger) fits(svc Service, addr netip.Addr, holds bool) error {
	if holds || l.size.add(entrySize(addr, vipconfig.Entry{Service: svc.Key, Method: svc.Method}), 1).fits(l.opts.Capacity) {
		return nil
	}
	if _, waits := l.requests[svc.Key]; !waits || l.requests[svc.Key].addr != addr {
		l.alloc.Release(addr, svc.Key)
	}
	return &AllocationError{Reason: ReasonFull, Err: fmt.Errorf("%w: ConfigMap %s holds %d entries and one more would pass the Kubernetes size limits of a ConfigMap; delete unused LoadBalancer Services",
		ErrConfigMapFull, l.opts.ConfigMap, len(l.held))}
}

// Release forgets the Service: its address is freed (and passed to a waiting
// request from its namespace). It returns the generation that carries the change.
func (l *Ledger) Release(key string) (netip.Addr, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return netip.Addr{}, 0, ErrNotReady
	}
	l.track(key, namespaceOf(key), netip.Addr{}, nil)
	addr, _ := l.drop(key)
	return addr, l.gen, nil
}

// permitted returns the address the Service asks for, if the rules allow it.
func (l *Ledger) permitted(svc Service) (netip.Addr, error) {
	addr := svc.Request
	if svc.RequestErr != nil {
		return netip.Addr{}, &AllocationError{Reason: ReasonNotAllowed, Err: svc.RequestErr}
	}
	if !addr.IsValid() {
		return addr, nil
	}
	refuse := func(err error) (netip.Addr, error) {
		pool, _ := l.alloc.PoolOf(addr)
		return netip.Addr{}, &AllocationError{Pool: pool, Reason: ReasonNotAllowed, Err: fmt.Errorf("requested address %s: %w", addr, err)}
	}
	if err := ipam.CheckSpecial(addr); err != nil {
		return refuse(err)
	}
	for _, p := range l.opts.Forbidden {
		if p.Contains(addr) {
			return refuse(fmt.Errorf("%w: it is in the cluster's Service CIDR %s", ipam.ErrSpecial, p))
		}
	}
	if err := l.opts.Pools.PermitsRequest(svc.Namespace, svc.Pool, addr); err != nil {
		return refuse(err)
	}
	if _, inPool := l.opts.Pools.PoolOf(addr); inPool {
		return addr, nil
	}
	if l.isPoolEdge(addr) {
		return refuse(fmt.Errorf("%w: it is the network or broadcast address of a pool", ipam.ErrSpecial))
	}
	if !l.opts.AllowOutsidePools {
		return refuse(fmt.Errorf("%w: it lies outside every address pool; request one inside a pool that serves namespace %q, or ask the operator to allow requests outside the pools (%s)",
			ipam.ErrNotInPool, svc.Namespace, l.opts.OutsideHint))
	}
	return addr, nil
}

func (l *Ledger) isPoolEdge(addr netip.Addr) bool {
	for _, p := range l.opts.Pools.Pools {
		if ipam.IsCIDREdge(p.Ranges, addr) {
			return true
		}
	}
	return false
}

// inUse explains why a requested address cannot be had, naming the holder only
// to Services of its own namespace.
func (l *Ledger) inUse(svc Service, addr netip.Addr, err error) error {
	pool, _ := l.alloc.PoolOf(addr)
	holder := "another Service"
	if h, ok := l.alloc.Holder(addr); ok {
		switch {
		case h == l.foreignHolder():
			holder = h
		case namespaceOf(h) == svc.Namespace:
			holder = h
		default:
			holder = "a Service in another namespace"
		}
	}
	if !errors.Is(err, ipam.ErrInUse) {
		holder = err.Error()
	}
	return &AllocationError{Pool: pool, Reason: ReasonInUse, Err: fmt.Errorf(
		"requested address %s is not available: %w: held by %s", addr, ipam.ErrInUse, holder)}
}

// track records the address a Service waits for (none: the zero Addr) and holds it
// for the Service while it is free, so that no other Service gets it meanwhile.
// A refused request, or one for an address another namespace holds, waits for nothing.
func (l *Ledger) track(key, namespace string, addr netip.Addr, refused error) {
	old, had := l.requests[key]
	if had && old.addr == addr && refused == nil {
		return
	}
	delete(l.requests, key)
	if had && (!l.holdsAddr(key, old.addr)) {
		if l.alloc.Release(old.addr, key) {
			l.handOff(old.addr, namespace)
		}
	}
	if refused != nil || !addr.IsValid() || l.holdsAddr(key, addr) {
		return
	}
	if holder, taken := l.alloc.Holder(addr); taken && holder != key && namespaceOf(holder) != namespace {
		return
	}
	l.requests[key] = request{addr: addr, namespace: namespace}
	_ = l.alloc.Reserve(addr, key) // fails while someone holds it; handOff passes it on
}

func (l *Ledger) holdsAddr(key string, addr netip.Addr) bool {
	h, ok := l.held[key]
	return ok && h.addr == addr
}

// allocate takes the lowest free address of the first of the Service's pools that has one.
func (l *Ledger) allocate(svc Service) (netip.Addr, error) {
	pools := l.opts.Pools
	names, err := pools.Candidates(svc.Namespace, svc.Pool)
	if err != nil {
		label := "" // an unknown name from an annotation must not become a metric label
		if _, known := pools.Lookup(svc.Pool); known {
			label = svc.Pool
		}
		return netip.Addr{}, &AllocationError{Pool: label, Reason: ReasonNotAllowed, Err: err}
	}
	if len(names) == 0 {
		return netip.Addr{}, &AllocationError{Reason: ReasonNotAllowed, Err: fmt.Errorf(
			"no address pool hands out addresses in namespace %q: add it to a pool's namespaces, name a pool with annotation %s, or request an address",
			svc.Namespace, poolconfig.PoolAnnotation)}
	}
	var full joined
	for _, name := range names {
		addr, err := l.alloc.Allocate(name, svc.Key)
		if !errors.Is(err, ipam.ErrExhausted) {
			return addr, err
		}
		if name != poolconfig.DefaultPool {
			err = fmt.Errorf("pool %q: %w", name, err)
		}
		full = append(full, err)
	}
	return netip.Addr{}, &AllocationError{Pool: names[0], Reason: ReasonExhausted, Err: full}
}

// joined is errors.Join on one line, for event messages.
type joined []error

func (j joined) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j joined) Unwrap() []error { return j }
