package main

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/utils/ptr"
)

const providerName = "null"

// cloud offers only a load balancer, as ours does.
type cloud struct{ lb loadBalancer }

var _ cloudprovider.Interface = (*cloud)(nil)

func (c *cloud) Initialize(cloudprovider.ControllerClientBuilder, <-chan struct{}) {}
func (c *cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool)                  { return &c.lb, true }
func (c *cloud) Instances() (cloudprovider.Instances, bool)                        { return nil, false }
func (c *cloud) InstancesV2() (cloudprovider.InstancesV2, bool)                    { return nil, false }
func (c *cloud) Zones() (cloudprovider.Zones, bool)                                { return nil, false }
func (c *cloud) Clusters() (cloudprovider.Clusters, bool)                          { return nil, false }
func (c *cloud) Routes() (cloudprovider.Routes, bool)                              { return nil, false }
func (c *cloud) ProviderName() string                                              { return providerName }
func (c *cloud) HasClusterID() bool                                                { return true }

// loadBalancer hands out the next address of a counter and keeps nothing else.
type loadBalancer struct{ next atomic.Uint32 }

var _ cloudprovider.LoadBalancer = (*loadBalancer)(nil)

// base is where the counter starts: 10.100.0.0, inside the bench's pools.
const base = 10<<24 | 100<<16

// GetLoadBalancer says a load balancer exists while the status shows one, as ours
// does while it holds the address: the controller then sends the same events on
// delete (DeletingLoadBalancer, DeletedLoadBalancer) and calls EnsureLoadBalancerDeleted.
func (l *loadBalancer) GetLoadBalancer(_ context.Context, _ string, svc *corev1.Service) (*corev1.LoadBalancerStatus, bool, error) {
	st := svc.Status.LoadBalancer
	return &st, len(st.Ingress) > 0, nil
}

func (l *loadBalancer) GetLoadBalancerName(_ context.Context, _ string, svc *corev1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(svc)
}

// EnsureLoadBalancer keeps a Service's address, as ours does, so a re-sync patches
// no status; otherwise it takes the next one.
func (l *loadBalancer) EnsureLoadBalancer(_ context.Context, _ string, svc *corev1.Service, _ []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	if len(svc.Status.LoadBalancer.Ingress) > 0 {
		return svc.Status.LoadBalancer.DeepCopy(), nil
	}
	var ip [4]byte
	binary.BigEndian.PutUint32(ip[:], base+l.next.Add(1))
	addr := netip.AddrFrom4(ip).String()
	return &corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
		{IP: addr, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)},
	}}, nil
}

func (l *loadBalancer) UpdateLoadBalancer(context.Context, string, *corev1.Service, []*corev1.Node) error {
	return nil
}

func (l *loadBalancer) EnsureLoadBalancerDeleted(context.Context, string, *corev1.Service) error {
	return nil
}
