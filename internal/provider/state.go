package provider

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

// state is what the provider knows: which Service holds which address, which addresses
// Services ask for, and which keys others wrote. The allocator holds all three, so an
// address held, requested or written by someone else is never handed out.
type state struct {
	pools         *poolconfig.Config
	alloc         *ipam.Allocator       // built from pools
	assigned      map[string]netip.Addr // Service key → address published for it
	requests      map[string]netip.Addr // Service key → address it asks for
	foreign       map[netip.Addr]bool   // keys others wrote, held by foreignHolder
	foreignHolder string
}

// restored returns the state, rebuilding it from the cluster before the first decision
// so that a restart never moves an address or hands out one somebody holds or asked for.
func (l *LoadBalancer) restored(ctx context.Context) (*state, error) {
	if l.state != nil {
		return l.state, nil
	}
	logger := klog.FromContext(ctx)
	table, warnings, err := l.store.Read(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		logger.Info("ConfigMap entry not adopted", "configMap", l.store.String(), "reason", w)
	}
	services, err := l.client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Services to restore allocations: %w", err)
	}
	alloc, err := ipam.NewAllocator(l.pools.IPAMPools()...)
	if err != nil {
		return nil, fmt.Errorf("address pools: %w", err)
	}
	s := &state{
		pools:         l.pools,
		alloc:         alloc,
		assigned:      map[string]netip.Addr{},
		requests:      map[string]netip.Addr{},
		foreign:       map[netip.Addr]bool{},
		foreignHolder: fmt.Sprintf("an entry in ConfigMap %s that keepalived-cloud-provider does not manage", l.store),
	}
	s.restore(ctx, table, services.Items)
	logger.Info("Restored load balancer addresses", "published", len(s.assigned), "requested", len(s.requests), "foreign", len(s.foreign))
	l.state = s
	l.observeUsage()
	return s, nil
}

// restore reserves, in order of authority: our published entries, others' keys, the
// addresses Services report in their status, and the addresses Services request.
func (s *state) restore(ctx context.Context, table vipconfig.Table, services []corev1.Service) {
	logger := klog.FromContext(ctx)
	for addr, entry := range table.Owned {
		if _, dup := s.assigned[entry.Service]; dup {
			logger.Info("Service has several entries; keeping one", "service", entry.Service, "address", addr)
		}
		if s.reserve(ctx, addr, entry.Service) {
			s.assigned[entry.Service] = addr
		}
	}
	s.syncForeign(ctx, table)
	for i := range services {
		svc := &services[i]
		if !wantsLoadBalancer(svc) {
			continue
		}
		if addr := statusAddress(svc); addr.IsValid() {
			s.reserve(ctx, addr, serviceKey(svc))
		}
		if addr, err := s.permittedRequest(svc); err == nil && addr.IsValid() {
			s.trackRequest(ctx, serviceKey(svc), addr)
		}
	}
}

// reserve records holder's claim on addr; a claim that loses to an earlier one is logged.
func (s *state) reserve(ctx context.Context, addr netip.Addr, holder string) bool {
	err := s.alloc.Reserve(addr, holder)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Address claim not recorded", "holder", holder, "reason", err.Error())
	}
	return err == nil
}

// release frees addr and passes it on to a Service that asked for it, if any.
func (s *state) release(addr netip.Addr, holder string) {
	if !s.alloc.Release(addr, holder) {
		return
	}
	for key, want := range s.requests {
		if want == addr && s.alloc.Reserve(addr, key) == nil {
			return
		}
	}
}

// trackRequest records the address a Service asks for (the zero Addr: none) and holds it
// for the Service so that no other Service gets it while this one waits.
func (s *state) trackRequest(ctx context.Context, key string, addr netip.Addr) {
	old, had := s.requests[key]
	if had && old == addr {
		return
	}
	delete(s.requests, key)
	if had && old != s.assigned[key] {
		s.release(old, key)
	}
	if addr.IsValid() {
		s.requests[key] = addr
		s.reserve(ctx, addr, key)
	}
}

// choose decides the Service's address: the one it asks for, else the one it has, else
// the one its status reports, else the lowest free one of its pools. fresh reports a new
// claim that must be undone if publishing fails.
func (s *state) choose(ctx context.Context, svc *corev1.Service) (addr netip.Addr, fresh bool, err error) {
	key := serviceKey(svc)
	requested, err := s.permittedRequest(svc)
	s.trackRequest(ctx, key, requested) // a refused request holds nothing
	if err != nil {
		return netip.Addr{}, false, err
	}
	if requested.IsValid() {
		if err := s.alloc.Reserve(requested, key); err != nil {
			return netip.Addr{}, false, s.failure(requested, reasonInUse, fmt.Errorf("requested address %s is not available: %w", requested, err))
		}
		return requested, false, nil
	}
	if addr, ok := s.assigned[key]; ok {
		return addr, false, nil
	}
	if addr := statusAddress(svc); addr.IsValid() && s.reserve(ctx, addr, key) {
		return addr, true, nil
	}
	addr, err = s.allocate(svc.Namespace, svc.Annotations[poolconfig.PoolAnnotation], key)
	return addr, err == nil, err
}

// syncForeign holds every IPv4 key others wrote and lets go of keys they removed.
func (s *state) syncForeign(ctx context.Context, table vipconfig.Table) {
	seen := map[netip.Addr]bool{}
	for key := range table.Foreign {
		addr, err := netip.ParseAddr(key)
		if err != nil || !addr.Is4() {
			continue
		}
		seen[addr] = true
		if !s.foreign[addr] && s.reserve(ctx, addr, s.foreignHolder) {
			s.foreign[addr] = true
		}
	}
	for addr := range s.foreign {
		if !seen[addr] {
			delete(s.foreign, addr)
			s.release(addr, s.foreignHolder)
		}
	}
}
