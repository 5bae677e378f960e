package ledger

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// ErrNotReady is returned before the ledger has been rebuilt from the cluster.
var ErrNotReady = errors.New("load balancer addresses are still being restored from the cluster")

// ErrNotCurrent refuses a decision for a Service that no longer wants a load balancer.
var ErrNotCurrent = errors.New("the Service was deleted or no longer wants a load balancer from this provider since this sync began")

// ErrConfigMapFull refuses an address whose entry would not fit in the ConfigMap.
var ErrConfigMapFull = errors.New("the ConfigMap is full")

// Failure reasons, for the failures metric.
const (
	ReasonExhausted    = "exhausted"   // no free address in the Service's pools
	ReasonInUse        = "in_use"      // the requested address is held by someone else
	ReasonNotAllowed   = "not_allowed" // the pool or address is not open to the Service
	ReasonFull         = "configmap_full"
	ReasonPoolsInvalid = "pools_invalid" // the pools file was invalid when this replica started leading
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
	if l.opts.Current != nil && !l.opts.Current(svc) {
		return netip.Addr{}, 0, ErrNotCurrent
	}
	r := l.recordOf(svc)
	r.released = false
	l.follow(r)
	l.keepShare(r)
	entry := vipconfig.Entry{Service: svc.Key, Method: svc.Method}
	if r.addr.IsValid() && svc.RequestErr == nil && svc.Request == r.addr {
		// Granted before (perhaps under older rules): the rules apply when an address
		// is given, and taking it away now would be an outage.
		l.hold(r, r.addr, entry)
		return r.addr, l.gen, nil
	}
	want, err := l.permitted(svc)
	l.track(r, want, err)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	if shared, err := l.share(r, want, entry); shared.IsValid() || err != nil {
		return shared, l.gen, err
	}
	addr, err := l.choose(r, svc, want)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	l.hold(r, addr, entry)
	return addr, l.gen, nil
}

// share makes r hold the address its sharing key has in its namespace, if any
// (the zero Addr: none, choose as usual). A Service that asks for another address,
// or may not share, is refused. One that holds an address keeps it unless it asks
// for the shared one: a sharing key added later moves nothing by surprise.
func (l *Ledger) share(r *record, want netip.Addr, entry vipconfig.Entry) (netip.Addr, error) {
	addr := l.sharedAddress(r)
	if !addr.IsValid() || r.addr == addr || (r.addr.IsValid() && want != addr) {
		return netip.Addr{}, nil
	}
	if err := l.refuseShare(r, addr); err != nil {
		return netip.Addr{}, err
	}
	if want.IsValid() && want != addr {
		return netip.Addr{}, &AllocationError{Reason: ReasonShareRefused, Err: fmt.Errorf(
			"this Service asks for %s, but the Services with sharing key %q in namespace %q share %s: ask for %s, ask for none, or use another sharing key (annotation %s)",
			want, r.share, r.namespace, addr, addr, AnnotationShare)}
	}
	l.join(r, addr, entry)
	return addr, nil
}

// choose picks the address as Ensure describes, claiming it for the Service.
func (l *Ledger) choose(r *record, svc Service, want netip.Addr) (netip.Addr, error) {
	switch {
	case want.IsValid():
		if r.addr == want {
			return want, nil
		}
		if err := l.claim(r, want); err != nil {
			return netip.Addr{}, l.inUse(r, want)
		}
		return want, l.fits(r, svc, want)
	case r.addr.IsValid():
		return r.addr, nil
	}
	if l.opts.Pools == nil {
		return netip.Addr{}, l.errPoolsInvalid()
	}
	addr, err := l.allocate(svc)
	if err != nil {
		return netip.Addr{}, err
	}
	l.owners[addr] = &owner{svc: r}
	return addr, l.fits(r, svc, addr)
}

// fits refuses a new address whose entry would overflow the ConfigMap, and gives it
// up again (a requested one stays reserved: the Service still waits for it).
func (l *Ledger) fits(r *record, svc Service, addr netip.Addr) error {
	if l.size.add(entrySize(addr, vipconfig.Entry{Service: svc.Key, Method: svc.Method}), 1).fits(l.opts.Capacity) {
		return nil
	}
	if r.request != addr {
		l.passOn(addr, r)
	}
	return &AllocationError{Reason: ReasonFull, Err: fmt.Errorf("%w: ConfigMap %s holds %d entries and one more would pass the Kubernetes size limits of a ConfigMap; delete unused LoadBalancer Services",
		ErrConfigMapFull, l.opts.ConfigMap, l.held())}
}

// held counts the held addresses.
func (l *Ledger) held() int {
	n := 0
	for _, r := range l.services {
		if l.publishes(r) {
			n++
		}
	}
	return n
}

// Release forgets the Service's load balancer: its address is passed on (see
// passOn) and its status claims nothing any more. It returns the generation that
// carries the change.
func (l *Ledger) Release(uid types.UID) (netip.Addr, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return netip.Addr{}, 0, ErrNotReady
	}
	r, ok := l.services[uid]
	if !ok {
		return netip.Addr{}, l.gen, nil
	}
	r.released = true
	l.cancelRequest(r)
	addr, _ := l.drop(r)
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
	if l.opts.Pools == nil {
		return netip.Addr{}, l.errPoolsInvalid()
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
	if err := ipam.CheckUnpooled(addr); err != nil {
		return refuse(err)
	}
	return addr, nil
}

// errNoFamily refuses a Service whose candidate pools have no range of the
// ledger's family.
func (l *Ledger) errNoFamily(svc Service, names []string) error {
	label := ""
	if svc.Pool != "" {
		label = svc.Pool // a pool that exists: Candidates checked the name
	}
	fam := l.opts.Family.String()
	return &AllocationError{Pool: label, Reason: ReasonNotAllowed, Err: fmt.Errorf(
		"no address pool serving namespace %q has %s addresses (pools %s have none): add an %s range to one of them, or name a pool that has one with annotation %s",
		svc.Namespace, fam, quoted(names), fam, poolconfig.PoolAnnotation)}
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
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
func (l *Ledger) inUse(r *record, addr netip.Addr) error {
	pool, _ := l.alloc.PoolOf(addr)
	holder := "another Service"
	switch o := l.owners[addr]; {
	case o.foreign:
		holder = fmt.Sprintf("an entry in ConfigMap %s that keepalived-cloud-provider does not manage", l.opts.ConfigMap)
	case o.svc != nil && o.svc.namespace == r.namespace:
		holder = o.svc.key
	case o.svc != nil:
		holder = "a Service in another namespace"
	}
	return &AllocationError{Pool: pool, Reason: ReasonInUse, Err: fmt.Errorf(
		"requested address %s is not available: %w: held by %s", addr, ipam.ErrInUse, holder)}
}

// track records the address a Service waits for (none: the zero Addr) and reserves
// it for the Service while it is free, so that no other Service gets it meanwhile.
// A refused request, or one for an address another namespace holds, waits for nothing.
func (l *Ledger) track(r *record, addr netip.Addr, refused error) {
	if r.request == addr && refused == nil {
		return
	}
	l.cancelRequest(r)
	if refused != nil || !addr.IsValid() || r.addr == addr {
		return
	}
	o, used := l.owners[addr]
	if used && !o.foreign && o.svc != nil && o.svc.namespace != r.namespace {
		return
	}
	r.request = addr
	if !used && l.alloc.Take(addr) == nil {
		l.owners[addr] = &owner{svc: r}
	}
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
			"no address pool hands out %saddresses in namespace %q: add it to a pool's namespaces, name a pool with annotation %s, or request an address",
			l.familyWord(), svc.Namespace, poolconfig.PoolAnnotation)}
	}
	if ours := l.servedNames(names); len(ours) < len(names) {
		if len(ours) == 0 {
			return netip.Addr{}, l.errNoFamily(svc, names)
		}
		names = ours
	}
	var full joined
	for _, name := range names {
		addr, err := l.alloc.AllocateFamily(name, ipamFamily(l.opts.Family))
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
