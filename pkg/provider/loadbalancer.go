package provider

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/fencing"
	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// allocationRetry is how soon a Service that could not get an address is tried again, so
// it gets one shortly after another Service frees one or the pools change.
const allocationRetry = 5 * time.Second

// poolsRetry is how soon a Service waiting for a valid pools file is tried again: the
// file is polled every poolsFilePoll, and allocation resumes within both.
const poolsRetry = 2 * time.Second

// readyTimeout bounds how long a sync waits for the ledger to be rebuilt.
const readyTimeout = time.Minute

// LoadBalancer is the thin adapter between the service controller and the ledgers
// (one per address family): read the Service, ask each ledger it needs, wait until
// each ConfigMap carries the decision, report the addresses.
type LoadBalancer struct {
	cfg     Config
	fams    [len(families)]*family
	fence   *fencing.Fence
	metrics *Metrics
	events  *eventSink
}

// family is one address family's ledger, and the writer of its ConfigMap.
type family struct {
	fam    vipconfig.Family
	ledger *ledger.Ledger
	writer *vipconfig.Writer
	ready  <-chan struct{} // closed once the ledger is rebuilt
}

func (f *family) isReady() bool {
	select {
	case <-f.ready:
		return true
	default:
		return false
	}
}

var _ cloudprovider.LoadBalancer = (*LoadBalancer)(nil)

// GetLoadBalancer reports the Service's addresses while a ledger holds one for it.
func (l *LoadBalancer) GetLoadBalancer(ctx context.Context, _ string, svc *corev1.Service) (*corev1.LoadBalancerStatus, bool, error) {
	in, _ := describe(svc, l.cfg)
	if err := l.waitReady(ctx, relevant(svc, in)); err != nil {
		return nil, false, err
	}
	// The controller removes the finalizer when this says "does not exist".
	if err := l.leading(); err != nil {
		return nil, false, err
	}
	var addrs requested
	for _, f := range l.fams {
		if f.isReady() {
			addrs[f.fam], _ = f.ledger.Holding(svc.UID)
		}
	}
	if addrs == (requested{}) {
		// "Does not exist" lets the controller remove the finalizer, so it is said only
		// once the ConfigMaps carry every decision so far: a release by another sync
		// (the other controller's, for a Service of our class) may still be on its way.
		return nil, false, l.published(ctx)
	}
	return loadBalancerStatus(addrs), true, nil
}

// published waits until each ready family's ConfigMap carries its ledger's decisions.
func (l *LoadBalancer) published(ctx context.Context) error {
	var gens [len(families)]uint64
	for _, f := range l.fams {
		if f.isReady() {
			gens[f.fam] = f.ledger.Gen()
		}
	}
	return l.publish(ctx, gens)
}

func (l *LoadBalancer) GetLoadBalancerName(_ context.Context, _ string, svc *corev1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(svc)
}

// EnsureLoadBalancer gives the Service an address of each family it gets (see
// wanted) and returns once the ConfigMaps carry them, so the status the service
// controller then writes is never ahead of them.
func (l *LoadBalancer) EnsureLoadBalancer(ctx context.Context, _ string, svc *corev1.Service, _ []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	in, err := describe(svc, l.cfg)
	if err != nil {
		return nil, err
	}
	if err := l.waitReady(ctx, relevant(svc, in)); err != nil {
		return nil, err
	}
	want, err := l.wanted(svc, in)
	if err != nil {
		return nil, l.failed(svc, err)
	}
	// A fresh address someone hand-writes meanwhile is given up; try the next one.
	for attempt := 1; attempt <= 3; attempt++ {
		addrs, gens, err := l.decide(in, want)
		if err != nil {
			return nil, l.failed(svc, err)
		}
		if err := l.publish(ctx, gens); err != nil {
			return nil, err
		}
		// The controller patches the status with what this returns.
		if err := l.leading(); err != nil {
			return nil, err
		}
		if l.holdsAll(svc, addrs) {
			klog.FromContext(ctx).WithValues("service", klog.KObj(svc)).V(2).Info("Published load balancer address", "address", addrs.list(), "method", in[want[0]].Method)
			l.warnIfNearlyFull(svc, want)
			return loadBalancerStatus(addrs), nil
		}
	}
	return nil, api.NewRetryError("the addresses chosen were taken by hand-written ConfigMap entries meanwhile; trying again", allocationRetry)
}

// decide makes each family's decision in memory: every wanted family is ensured,
// every other one released. If a wanted family fails, the addresses given fresh in
// this call are given back: a failed sync hands out nothing. The generations are
// those each writer must publish (zero: nothing to wait for).
func (l *LoadBalancer) decide(in perFamily, want []vipconfig.Family) (requested, [len(families)]uint64, error) {
	var addrs requested
	var gens [len(families)]uint64
	var fresh []*family
	for _, fam := range want {
		f := l.fams[fam]
		_, held := f.ledger.Holding(in[fam].UID)
		addr, gen, err := f.ledger.Ensure(in[fam])
		if err != nil {
			l.giveBack(in, fresh)
			return requested{}, gens, err
		}
		if !held && !in[fam].Status.IsValid() {
			fresh = append(fresh, f)
		}
		addrs[fam], gens[fam] = addr, gen
	}
	for _, f := range l.fams {
		if addrs[f.fam].IsValid() || !f.isReady() {
			continue // not ready: it decided nothing for this Service, and no status needs it
		}
		if addr, gen, err := f.ledger.Release(in[f.fam].UID); err == nil && addr.IsValid() {
			gens[f.fam] = gen
		}
	}
	return addrs, gens, nil
}

// giveBack releases the addresses just given to the Service in the families fresh.
func (l *LoadBalancer) giveBack(in perFamily, fresh []*family) {
	for _, f := range fresh {
		if _, _, err := f.ledger.Release(in[f.fam].UID); err == nil {
			f.writer.Kick()
		}
	}
}

// publish waits until each writer has published its generation.
func (l *LoadBalancer) publish(ctx context.Context, gens [len(families)]uint64) error {
	for fam, gen := range gens {
		if gen == 0 {
			continue
		}
		if err := l.fams[fam].writer.Wait(ctx, gen); err != nil {
			return err
		}
	}
	return nil
}

// holdsAll reports whether the Service still holds every address decided.
func (l *LoadBalancer) holdsAll(svc *corev1.Service, addrs requested) bool {
	for fam, addr := range addrs {
		if addr.IsValid() && !l.fams[fam].ledger.Holds(svc.UID, addr) {
			return false
		}
	}
	return true
}

// failed turns an allocation failure into a quick retry: pools, requests and holders
// change without touching this Service, so the controller's growing back-off is too slow.
func (l *LoadBalancer) failed(svc *corev1.Service, err error) error {
	var failure *ledger.AllocationError
	if !errors.As(err, &failure) {
		return err
	}
	l.metrics.failed(failure.Pool, failure.Reason)
	if failure.Reason == ledger.ReasonPoolsInvalid {
		l.events.warn(svc, "PoolsFileInvalid", err.Error())
		return api.NewRetryError(err.Error(), poolsRetry)
	}
	return api.NewRetryError(err.Error(), allocationRetry)
}

// leading refuses success while this replica is not certain to hold the lease: a
// resumed old leader must not have the controller write a status from stale memory.
func (l *LoadBalancer) leading() error {
	if _, err := l.fence.Check(); err != nil {
		return api.NewRetryError(err.Error(), allocationRetry)
	}
	return nil
}

// UpdateLoadBalancer has nothing to do: the VIP does not depend on the set of nodes.
func (l *LoadBalancer) UpdateLoadBalancer(context.Context, string, *corev1.Service, []*corev1.Node) error {
	return nil
}

// EnsureLoadBalancerDeleted frees the Service's addresses and returns once their
// entries are gone from the ConfigMaps.
func (l *LoadBalancer) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *corev1.Service) error {
	in, _ := describe(svc, l.cfg)
	if err := l.waitReady(ctx, relevant(svc, in)); err != nil {
		return err
	}
	var released []netip.Addr
	for _, f := range l.fams {
		if !f.isReady() {
			continue // it decided nothing for this Service, and no status needs it
		}
		addr, gen, err := f.ledger.Release(svc.UID)
		if err != nil {
			return err
		}
		// The IPv4 ConfigMap is waited for as it always was; another family's
		// only when it had something to remove.
		if f.fam == vipconfig.IPv4 || addr.IsValid() {
			if err := f.writer.Wait(ctx, gen); err != nil {
				return err
			}
		}
		if addr.IsValid() {
			released = append(released, addr)
		}
	}
	// The controller removes the finalizer when this succeeds.
	if err := l.leading(); err != nil {
		return err
	}
	if len(released) > 0 {
		klog.FromContext(ctx).WithValues("service", klog.KObj(svc)).V(2).Info("Removed load balancer address", "address", released)
	}
	return nil
}

// waitReady waits until the ledgers of fams have been rebuilt from the informers.
func (l *LoadBalancer) waitReady(ctx context.Context, fams []vipconfig.Family) error {
	var timer *time.Timer
	for _, fam := range fams {
		f := l.fams[fam]
		if f.isReady() {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(readyTimeout)
			defer timer.Stop()
		}
		select {
		case <-f.ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return api.NewRetryError(ledger.ErrNotReady.Error()+" ("+f.writer.String()+")", allocationRetry)
		}
	}
	return nil
}

// warnIfNearlyFull tells the Service's owner, past 90 %, that a ConfigMap is filling up.
func (l *LoadBalancer) warnIfNearlyFull(svc *corev1.Service, fams []vipconfig.Family) {
	for _, fam := range fams {
		f := l.fams[fam]
		if fill := f.ledger.Fill(); fill > 0.9 {
			l.events.warn(svc, "ConfigMapNearlyFull", fmt.Sprintf(
				"ConfigMap %s is %d%% full; past 100%% new LoadBalancer Services get no address", f.writer, int(fill*100)))
		}
	}
}

// loadBalancerStatus lists one ingress per family, IPv4 first.
func loadBalancerStatus(addrs requested) *corev1.LoadBalancerStatus {
	vip := corev1.LoadBalancerIPModeVIP
	status := &corev1.LoadBalancerStatus{}
	for _, addr := range addrs {
		if addr.IsValid() {
			status.Ingress = append(status.Ingress, corev1.LoadBalancerIngress{IP: addr.String(), IPMode: &vip})
		}
	}
	return status
}

// list is the addresses given, for log lines.
func (r requested) list() []netip.Addr {
	var out []netip.Addr
	for _, a := range r {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}
