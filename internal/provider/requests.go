package provider

import (
	"context"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// watchRequests holds requested addresses as soon as a Service asks for them, so a
// Service still waiting in the service controller's queue keeps its claim.
func (l *LoadBalancer) watchRequests(informer cache.SharedIndexInformer) {
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { l.observe(obj, false) },
		UpdateFunc: func(_, obj any) { l.observe(obj, false) },
		DeleteFunc: func(obj any) { l.observe(obj, true) },
	})
	if err != nil {
		klog.ErrorS(err, "Cannot watch Services for requested addresses")
	}
}

// observe updates the Service's request. Before the state is restored there is nothing
// to do: restoring lists every Service itself.
func (l *LoadBalancer) observe(obj any, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == nil {
		return
	}
	var want netip.Addr // only a request the Service's pools allow holds an address
	if !deleted && wantsLoadBalancer(svc) && svc.DeletionTimestamp == nil {
		want, _ = l.state.permittedRequest(svc)
	}
	l.state.trackRequest(context.TODO(), serviceKey(svc), want)
}
