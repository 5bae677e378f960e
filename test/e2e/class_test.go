package e2e

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestOtherLoadBalancerClass: a Service with a spec.loadBalancerClass belongs to another
// implementation: it gets no address, no finalizer and no entry, and the address it
// names in the annotation is not held for it.
func TestOtherLoadBalancerClass(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.15.10-10.210.15.11"})
	class := "example.com/other"
	e.createService("other", withRequestedIP("10.210.15.10"), func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class })

	e.createService("ours", withRequestedIP("10.210.15.10"))
	if got := e.waitIP("ours"); got != "10.210.15.10" {
		t.Errorf("ours asked for 10.210.15.10, named only by a Service of another class, and got %s", got)
	}
	e.waitEntry("10.210.15.10", e.key("ours"))

	e.assertNoIP("other", 2*time.Second)
	if s := e.getService("other"); slices.Contains(s.Finalizers, cleanupFinalizer) {
		t.Errorf("Service of class %s got the finalizer %s", class, cleanupFinalizer)
	}
	for k, v := range e.configMap().Data {
		if v == e.key("other") {
			t.Errorf("Service of class %s has entry %q", class, k)
		}
	}
}
