package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// ourClass is the product's default loadBalancerClass, spelled out.
const (
	ourClass     = "k8s.co/keepalived"
	envClass     = "KEEPALIVED_LOAD_BALANCER_CLASS"
	envClassOnly = "KEEPALIVED_CLASS_ONLY"
)

func withClass(class string) svcOption {
	return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }
}

// ofOurClassIf makes the Service one of our class when yes.
func ofOurClassIf(yes bool) svcOption {
	return func(s *corev1.Service) {
		if yes {
			withClass(ourClass)(s)
		}
	}
}

// waitReleased waits until the Service has neither an ingress nor the finalizer.
func (e *env) waitReleased(name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	_, err := controlplane.WaitForService(ctx, e.c, e.ns, name, "no ingress and no "+cleanupFinalizer, func(s *corev1.Service) bool {
		return len(s.Status.LoadBalancer.Ingress) == 0 && !slices.Contains(s.Finalizers, cleanupFinalizer)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// assertUntouched checks that the Service has no address, no finalizer and no entry
// now and for the next d.
func (e *env) assertUntouched(name string, d time.Duration) {
	e.t.Helper()
	e.assertNoIP(name, d)
	if s := e.getService(name); slices.Contains(s.Finalizers, cleanupFinalizer) {
		e.t.Errorf("Service %s got the finalizer %s", name, cleanupFinalizer)
	}
	for k, v := range e.configMap().Data {
		if v == e.key(name) {
			e.t.Errorf("Service %s has entry %q", name, k)
		}
	}
}

// TestOurLoadBalancerClass: a Service of our class is served by our own controller as
// the upstream one serves those without a class: the finalizer, an address in the
// ConfigMap and the status, the same events; deleting it frees the address.
func TestOurLoadBalancerClass(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.16.10/32"})
	e.createService("ours", withClass(ourClass))
	if ip := e.waitIP("ours"); ip != "10.210.16.10" {
		t.Fatalf("ours got %s, want 10.210.16.10, the only address", ip)
	}
	e.waitEntry("10.210.16.10", e.key("ours"))
	if s := e.getService("ours"); !slices.Contains(s.Finalizers, cleanupFinalizer) {
		t.Errorf("Service of our class has no finalizer %s: %v", cleanupFinalizer, s.Finalizers)
	}
	e.expectEvent("ours", "EnsuringLoadBalancer")
	e.expectEvent("ours", "EnsuredLoadBalancer")

	e.deleteService("ours")
	e.waitNoEntry("10.210.16.10")
	// The only address is free again: a classless Service (the upstream controller's) gets it.
	e.createService("classless")
	if ip := e.waitIP("classless"); ip != "10.210.16.10" {
		t.Errorf("classless got %s after the Service of our class was deleted, want 10.210.16.10", ip)
	}
}

// TestConfiguredClass: the class is the operator's to name; the default one is then
// someone else's, and never touched.
func TestConfiguredClass(t *testing.T) {
	custom := "example.com/bare-metal"
	e := newEnv(t, config{pool: "10.210.17.10-10.210.17.11", env: []string{envClass + "=" + custom}})
	e.createService("default-class", withClass(ourClass))
	e.createService("custom", withClass(custom))
	if ip := e.waitIP("custom"); ip != "10.210.17.10" {
		t.Errorf("custom got %s, want 10.210.17.10", ip)
	}
	e.assertUntouched("default-class", 2*time.Second)
}

// TestClassOnly: in class-only mode, Services without a class are left to another
// implementation: no address, no finalizer, no entry, no event of ours. Those of our
// class are served; those of another class are never touched.
func TestClassOnly(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.18.10-10.210.18.11", env: []string{envClassOnly + "=true"}})
	e.createService("classless", withRequestedIP("10.210.18.10"))
	e.createService("other", withClass("example.com/other"))
	e.createService("ours", withClass(ourClass), withRequestedIP("10.210.18.10"))
	if ip := e.waitIP("ours"); ip != "10.210.18.10" {
		t.Errorf("ours asked for 10.210.18.10, named also by a classless Service, and got %s", ip)
	}
	e.assertUntouched("classless", 3*time.Second)
	e.assertUntouched("other", 0)
	for _, name := range []string{"classless", "other"} {
		events, err := eventsOf(e, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			t.Errorf("Service %s, not ours, got event %s: %s", name, ev.Reason, ev.Message)
		}
	}
}

// TestOurClassTypeChange: a Service of our class that stops being a LoadBalancer is
// cleaned up (entry, status, finalizer), by the upstream controller alongside and by
// ours alone in class-only mode.
func TestOurClassTypeChange(t *testing.T) {
	for _, mode := range []struct{ name, classOnly string }{{"beside the upstream controller", "false"}, {"class-only", "true"}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, config{pool: "10.210.19.10/32", env: []string{envClassOnly + "=" + mode.classOnly}})
			e.createService("s", withClass(ourClass))
			if ip := e.waitIP("s"); ip != "10.210.19.10" {
				t.Fatalf("s got %s, want 10.210.19.10", ip)
			}
			e.waitEntry("10.210.19.10", e.key("s"))

			e.updateService("s", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })
			e.waitNoEntry("10.210.19.10")
			e.waitReleased("s")

			// Freed: a new Service of our class gets the only address.
			e.createService("next", withClass(ourClass))
			if ip := e.waitIP("next"); ip != "10.210.19.10" {
				t.Errorf("next got %s after s stopped being a LoadBalancer, want 10.210.19.10", ip)
			}
		})
	}
}
