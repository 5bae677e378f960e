package provider

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

// allocationRetry is how soon a Service that could not get an address is tried again, so
// it gets one shortly after another Service frees one or the pools change.
const allocationRetry = 5 * time.Second

// LoadBalancer decides addresses and publishes them. One mutex serialises all decisions
// and writes, so parallel service syncs can never hand out one address twice.
type LoadBalancer struct {
	cfg     Config
	client  kubernetes.Interface
	store   *vipconfig.Store
	metrics *Metrics

	mu    sync.Mutex
	pools *poolconfig.Config // in force; replaced when the pools file changes
	state *state             // nil until restored from the cluster
}

var _ cloudprovider.LoadBalancer = (*LoadBalancer)(nil)

// NewLoadBalancer returns a LoadBalancer that restores its state on first use.
func NewLoadBalancer(cfg Config, client kubernetes.Interface, m *Metrics) *LoadBalancer {
	return &LoadBalancer{cfg: cfg, client: client, metrics: m, pools: cfg.Pools,
		store: vipconfig.NewStore(client, cfg.Namespace, cfg.ConfigMap)}
}

// GetLoadBalancer reports the Service's address while an entry of ours exists for it.
func (l *LoadBalancer) GetLoadBalancer(ctx context.Context, _ string, svc *corev1.Service) (*corev1.LoadBalancerStatus, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.restored(ctx)
	if err != nil {
		return nil, false, err
	}
	addr, ok := s.assigned[serviceKey(svc)]
	if !ok {
		return nil, false, nil
	}
	return loadBalancerStatus(addr), true, nil
}

func (l *LoadBalancer) GetLoadBalancerName(_ context.Context, _ string, svc *corev1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(svc)
}

// EnsureLoadBalancer gives the Service an address and publishes it. It keeps the address the
// Service has unless the Service asks for another one.
func (l *LoadBalancer) EnsureLoadBalancer(ctx context.Context, _ string, svc *corev1.Service, _ []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	if err := checkFamilies(svc); err != nil {
		return nil, err
	}
	method, err := forwardMethod(svc, l.cfg.DefaultMethod)
	if err != nil {
		return nil, err
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.restored(ctx)
	if err != nil {
		return nil, err
	}
	key := serviceKey(svc)
	addr, err := l.assign(ctx, s, svc, vipconfig.Entry{Service: key, Method: method})
	if failed := (*allocationError)(nil); errors.As(err, &failed) {
		// Pools, requests and holders change without touching this Service:
		// retry soon rather than on the service controller's growing back-off.
		l.metrics.failed(failed.pool, failed.reason)
		return nil, api.NewRetryError(err.Error(), allocationRetry)
	}
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).WithValues("service", klog.KObj(svc)).V(2).Info("Published load balancer address", "address", addr, "method", method)
	return loadBalancerStatus(addr), nil
}

// assign chooses and publishes the Service's address. A new address that someone else
// has just written into the ConfigMap is given up, and the next free one tried.
func (l *LoadBalancer) assign(ctx context.Context, s *state, svc *corev1.Service, entry vipconfig.Entry) (netip.Addr, error) {
	for attempt := 1; ; attempt++ {
		addr, fresh, err := s.choose(ctx, svc)
		if err != nil {
			return netip.Addr{}, err
		}
		err = l.publish(ctx, s, entry.Service, addr, entry)
		if err == nil {
			return addr, nil
		}
		if fresh {
			s.release(addr, entry.Service)
		}
		if !errors.Is(err, vipconfig.ErrNotOwned) {
			return netip.Addr{}, err
		}
		l.refreshForeign(ctx, s)
		if !fresh || attempt == 3 {
			return netip.Addr{}, err
		}
	}
}

// publish writes addr's entry, removes the Service's previous entry and records the result.
func (l *LoadBalancer) publish(ctx context.Context, s *state, key string, addr netip.Addr, entry vipconfig.Entry) error {
	change := vipconfig.Change{Set: map[netip.Addr]vipconfig.Entry{addr: entry}}
	prev, had := s.assigned[key]
	if had && prev != addr {
		change.Delete = []netip.Addr{prev}
	}
	change.Usage = s.usageSummary(change.Delete...)
	table, err := l.store.Apply(ctx, change)
	if err != nil {
		return err
	}
	s.syncForeign(ctx, table)
	s.assigned[key] = addr
	if had && prev != addr {
		s.release(prev, key)
	}
	l.observeUsage()
	return nil
}

// UpdateLoadBalancer has nothing to do: the VIP does not depend on the set of nodes.
func (l *LoadBalancer) UpdateLoadBalancer(context.Context, string, *corev1.Service, []*corev1.Node) error {
	return nil
}

// EnsureLoadBalancerDeleted removes the Service's entry (only ours) and frees its address.
func (l *LoadBalancer) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *corev1.Service) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.restored(ctx)
	if err != nil {
		return err
	}
	key := serviceKey(svc)
	s.trackRequest(ctx, key, netip.Addr{})
	if addr := statusAddress(svc); addr.IsValid() && addr != s.assigned[key] {
		s.release(addr, key) // reserved from status at restore, never published
	}
	addr, ok := s.assigned[key]
	if !ok {
		return nil
	}
	table, err := l.store.Apply(ctx, vipconfig.Change{Delete: []netip.Addr{addr}, Usage: s.usageSummary(addr)})
	if err != nil {
		return err
	}
	s.syncForeign(ctx, table)
	delete(s.assigned, key)
	s.release(addr, key)
	l.observeUsage()
	klog.FromContext(ctx).WithValues("service", klog.KObj(svc)).V(2).Info("Removed load balancer address", "address", addr)
	return nil
}

// refreshForeign re-reads the ConfigMap after a write found a key someone else wrote.
func (l *LoadBalancer) refreshForeign(ctx context.Context, s *state) {
	if table, _, err := l.store.Read(ctx); err == nil {
		s.syncForeign(ctx, table)
	}
}
