package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestSeedAdoption: a ConfigMap written by the 2017 provider (entries plus its JSON state
// in the k8s.co/cloud-provider-config annotation), with Services already reporting those
// addresses, is adopted: no address moves, entries are kept, new Services (even one
// created before the provider started) get other addresses, and the adopted entries are
// the provider's own from then on (removed when their Service goes).
func TestSeedAdoption(t *testing.T) {
	const pool = "10.210.7.20-10.210.7.30"
	e := newEnv(t, config{pool: pool, manualStart: true})

	// What the seed left behind: Services with status and no finalizer (it had none).
	web := e.seedService("web", "10.210.7.20")
	echo := e.seedService("echo", "10.210.7.21", withForwardMethod("DR"))
	state := map[string]any{"services": []map[string]string{
		{"uid": string(web.UID), "ip": "10.210.7.20", "serviceNamespace": e.ns, "serviceName": "web", "forwardMethod": "NAT"},
		{"uid": string(echo.UID), "ip": "10.210.7.21", "serviceNamespace": e.ns, "serviceName": "echo", "forwardMethod": "DR"},
	}}
	seed, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	e.putEntries(map[string]string{
		"10.210.7.20": e.key("web"),
		"10.210.7.21": e.key("echo") + ":DR",
		"10.210.7.99": "hand/made",
	}, map[string]string{annotationSeed: string(seed)})
	// A new Service waiting when the provider starts: it may be synced first.
	e.createService("early")

	e.startProvider()

	for name, ip := range map[string]string{"web": "10.210.7.20", "echo": "10.210.7.21"} {
		// The provider has synced the Service once it carries the finalizer and ipMode VIP.
		ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
		s, err := controlplane.WaitForService(ctx, e.c, e.ns, name, "synced by the provider", func(s *corev1.Service) bool {
			ing := s.Status.LoadBalancer.Ingress
			return slices.Contains(s.Finalizers, cleanupFinalizer) && len(ing) == 1 && ing[0].IPMode != nil
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		checkStatus(t, s)
		if got := controlplane.IngressIP(s); got != ip {
			t.Errorf("adopted Service %s moved from %s to %s", name, ip, got)
		}
	}
	early := e.waitIP("early")
	e.createService("late")
	late := e.waitIP("late")
	for name, ip := range map[string]string{"early": early, "late": late} {
		e.assertInPool(name, ip)
		if ip == "10.210.7.20" || ip == "10.210.7.21" {
			t.Errorf("new Service %s got %s, an adopted address", name, ip)
		}
	}
	if early == late {
		t.Errorf("early and late both got %s", early)
	}

	cm := e.waitEntry(late, e.key("late"))
	want := map[string]string{
		"10.210.7.20": e.key("web"), "10.210.7.21": e.key("echo") + ":DR", "10.210.7.99": "hand/made",
		early: e.key("early"), late: e.key("late"),
	}
	for k, v := range want {
		if cm.Data[k] != v {
			t.Errorf("entry %q = %q, want %q", k, cm.Data[k], v)
		}
	}
	owned := ownedKeys(cm)
	for _, k := range []string{"10.210.7.20", "10.210.7.21", early, late} {
		if !slices.Contains(owned, k) {
			t.Errorf("%s = %v does not list %s", annotationOwned, owned, k)
		}
	}
	if slices.Contains(owned, "10.210.7.99") {
		t.Errorf("%s = %v lists the hand-written 10.210.7.99", annotationOwned, owned)
	}

	// Adopted means ours: deleting web removes its entry, and leaves the others.
	e.deleteService("web")
	cm = e.waitNoEntry("10.210.7.20")
	if cm.Data["10.210.7.99"] != "hand/made" || cm.Data["10.210.7.21"] != e.key("echo")+":DR" {
		t.Errorf("deleting web changed other entries: %v", cm.Data)
	}
}

// seedService creates a LoadBalancer Service whose status already reports ip, as the
// 2017 provider left them.
func (e *env) seedService(name, ip string, opts ...svcOption) *corev1.Service {
	e.t.Helper()
	s := e.createService(name, opts...)
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	s, err := e.c.CoreV1().Services(e.ns).UpdateStatus(context.Background(), s, metav1.UpdateOptions{})
	if err != nil {
		e.t.Fatalf("setting the status of %s: %v", name, err)
	}
	return s
}
