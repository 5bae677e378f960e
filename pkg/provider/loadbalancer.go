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

// LoadBalancer is the thin adapter between the service controller and the ledger:
// read the Service, ask the ledger, wait until the ConfigMap carries the decision,
// report the address.
type LoadBalancer struct {
	cfg     Config
	ledger  *ledger.Ledger
	writer  *vipconfig.Writer
	ready   <-chan struct{} // closed once the ledger is rebuilt
	fence   *fencing.Fence
	metrics *Metrics
	events  *eventSink
}

var _ cloudprovider.LoadBalancer = (*LoadBalancer)(nil)

// GetLoadBalancer reports the Service's address while the ledger holds one for it.
func (l *LoadBalancer) GetLoadBalancer(ctx context.Context, _ string, svc *corev1.Service) (*corev1.LoadBalancerStatus, bool, error) {
	if err := l.waitReady(ctx); err != nil {
		return nil, false, err
	}
	// The controller removes the finalizer when this says "does not exist".
	if err := l.leading(); err != nil {
		return nil, false, err
	}
	addr, ok := l.ledger.Holding(svc.UID)
	if !ok {
		return nil, false, nil
	}
	return loadBalancerStatus(addr), true, nil
}

func (l *LoadBalancer) GetLoadBalancerName(_ context.Context, _ string, svc *corev1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(svc)
}

// EnsureLoadBalancer gives the Service an address and returns once the ConfigMap
// carries it, so the status the service controller then writes is never ahead of it.
func (l *LoadBalancer) EnsureLoadBalancer(ctx context.Context, _ string, svc *corev1.Service, _ []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	if err := checkFamilies(svc); err != nil {
		return nil, err
	}
	in, err := describe(svc, l.cfg.DefaultMethod)
	if err != nil {
		return nil, err
	}
	if err := l.waitReady(ctx); err != nil {
		return nil, err
	}
	// A fresh address someone hand-writes meanwhile is given up; try the next one.
	for attempt := 1; attempt <= 3; attempt++ {
		addr, gen, err := l.ledger.Ensure(in)
		if err != nil {
			return nil, l.failed(svc, err)
		}
		if err := l.writer.Wait(ctx, gen); err != nil {
			return nil, err
		}
		// The controller patches the status with what this returns.
		if err := l.leading(); err != nil {
			return nil, err
		}
		if l.ledger.Holds(in.UID, addr) {
			klog.FromContext(ctx).WithValues("service", klog.KObj(svc)).V(2).Info("Published load balancer address", "address", addr, "method", in.Method)
			l.warnIfNearlyFull(svc)
			return loadBalancerStatus(addr), nil
		}
	}
	return nil, api.NewRetryError("the addresses chosen were taken by hand-written ConfigMap entries meanwhile; trying again", allocationRetry)
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

// EnsureLoadBalancerDeleted frees the Service's address and returns once its entry
// is gone from the ConfigMap.
func (l *LoadBalancer) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *corev1.Service) error {
	if err := l.waitReady(ctx); err != nil {
		return err
	}
	addr, gen, err := l.ledger.Release(svc.UID)
	if err != nil {
		return err
	}
	if err := l.writer.Wait(ctx, gen); err != nil {
		return err
	}
	// The controller removes the finalizer when this succeeds.
	if err := l.leading(); err != nil {
		return err
	}
	if addr.IsValid() {
		klog.FromContext(ctx).WithValues("service", klog.KObj(svc)).V(2).Info("Removed load balancer address", "address", addr)
	}
	return nil
}

// waitReady waits until the ledger has been rebuilt from the informers.
func (l *LoadBalancer) waitReady(ctx context.Context) error {
	select {
	case <-l.ready:
		return nil
	default:
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-l.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return api.NewRetryError(ledger.ErrNotReady.Error(), allocationRetry)
	}
}

// warnIfNearlyFull tells the Service's owner, past 90 %, that the ConfigMap is filling up.
func (l *LoadBalancer) warnIfNearlyFull(svc *corev1.Service) {
	if fill := l.ledger.Fill(); fill > 0.9 {
		l.events.warn(svc, "ConfigMapNearlyFull", fmt.Sprintf(
			"ConfigMap %s is %d%% full; past 100%% new LoadBalancer Services get no address", l.writer, int(fill*100)))
	}
}

func loadBalancerStatus(addr netip.Addr) *corev1.LoadBalancerStatus {
	vip := corev1.LoadBalancerIPModeVIP
	return &corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: addr.String(), IPMode: &vip}}}
}
