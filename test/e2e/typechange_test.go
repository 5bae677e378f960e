package e2e

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestTypeChange: LoadBalancer → ClusterIP removes the entry, clears the status and the
// finalizer; back to LoadBalancer gets an address again. The pool is a single address
// (a /32, which panicked the 2017 provider), so getting it back proves it was freed.
func TestTypeChange(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.4.10/32"})

	e.createService("s")
	if ip := e.waitIP("s"); ip != "10.210.4.10" {
		t.Fatalf("s got %s, want 10.210.4.10, the only address of the pool", ip)
	}
	e.waitEntry("10.210.4.10", e.key("s"))

	e.updateService("s", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })
	e.waitNoEntry("10.210.4.10")
	// The API server itself clears the status on the type change; the finalizer is the
	// provider's to remove, once the entry is gone.
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	_, err := controlplane.WaitForService(ctx, e.c, e.ns, "s", "no ingress and no "+cleanupFinalizer, func(s *corev1.Service) bool {
		return len(s.Status.LoadBalancer.Ingress) == 0 && !slices.Contains(s.Finalizers, cleanupFinalizer)
	})
	if err != nil {
		t.Fatal(err)
	}

	e.updateService("s", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
	if ip := e.waitIP("s"); ip != "10.210.4.10" {
		t.Fatalf("s got %s back as a LoadBalancer, want 10.210.4.10", ip)
	}
	e.waitEntry("10.210.4.10", e.key("s"))
}
