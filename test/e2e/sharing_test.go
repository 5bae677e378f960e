package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const annotationShare = "k8s.co/keepalived-allow-shared-ip"

// sharing gives a Service a sharing key and exactly the ports given.
func sharing(key string, ports ...corev1.ServicePort) svcOption {
	return func(s *corev1.Service) {
		withAnnotation(annotationShare, key)(s)
		s.Spec.Ports = ports
	}
}

func port(name string, proto corev1.Protocol, n int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: n}
}

// TestSharedAddress: DNS over TCP and UDP as two Services with one sharing key get one
// address, published once under the lowest name. A third sharer whose port collides
// gets a clear event and no address; a Local one too. Deleting the first sharer leaves
// the address with the other; deleting the last frees it.
func TestSharedAddress(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.20.10-10.210.20.11"})
	e.createService("dns-udp", sharing("dns", port("dns", corev1.ProtocolUDP, 53)))
	ip := e.waitIP("dns-udp")
	e.createService("dns-tcp", sharing("dns", port("dns-tcp", corev1.ProtocolTCP, 53)))
	if got := e.waitIP("dns-tcp"); got != ip {
		t.Fatalf("dns-tcp got %s, want %s, shared with dns-udp", got, ip)
	}
	// One entry per address: the lowest name.
	e.waitEntry(ip, e.key("dns-tcp"))

	e.createService("web", sharing("dns", port("http", corev1.ProtocolTCP, 80), port("dns-tcp", corev1.ProtocolTCP, 53)))
	e.waitEvent("web", "SyncLoadBalancerFailed", "TCP/53", "collides", e.key("dns-tcp"))
	e.createService("local", sharing("dns", port("http", corev1.ProtocolTCP, 8080)), func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	e.waitEvent("local", "SyncLoadBalancerFailed", "externalTrafficPolicy Local")
	e.assertNoIP("web", time.Second)
	e.assertNoIP("local", 0)

	e.deleteService("dns-tcp")
	e.waitEntry(ip, e.key("dns-udp"))
	if got := e.getIP("dns-udp"); got != ip {
		t.Errorf("dns-udp moved from %s to %s when its sharer was deleted", ip, got)
	}
	// web no longer collides with anyone: it shares the address now.
	if got := e.waitIP("web"); got != ip {
		t.Errorf("web got %s once dns-tcp was gone, want the shared %s", got, ip)
	}
	e.deleteService("web")
	e.deleteService("dns-udp")
	e.waitNoEntry(ip)
	e.deleteService("local")

	// Freed: two plain Services take both addresses.
	e.createService("a")
	e.createService("b")
	if a, b := e.waitIP("a"), e.waitIP("b"); a != ip && b != ip {
		t.Errorf("a and b got %s and %s after the last sharer left; want one of them to get %s", a, b, ip)
	}
}

// TestSharedRequestedAddress: sharers that all ask for one address share it; a sharer
// asking for another is refused by name.
func TestSharedRequestedAddress(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.21.10-10.210.21.12"})
	e.createService("game-tcp", withRequestedIP("10.210.21.12"), sharing("game", port("tcp", corev1.ProtocolTCP, 7777)))
	e.createService("game-udp", withRequestedIP("10.210.21.12"), sharing("game", port("udp", corev1.ProtocolUDP, 7777)))
	for _, name := range []string{"game-tcp", "game-udp"} {
		if got := e.waitIP(name); got != "10.210.21.12" {
			t.Errorf("%s asked for 10.210.21.12 and got %s", name, got)
		}
	}
	e.createService("game-query", withRequestedIP("10.210.21.11"), sharing("game", port("q", corev1.ProtocolUDP, 27015)))
	e.waitEvent("game-query", "SyncLoadBalancerFailed", "10.210.21.11", "share 10.210.21.12")
	e.assertNoIP("game-query", time.Second)
}

// TestSharingAcrossRestart: the provider is killed and started again; the sharers keep
// their one address, and the entry is unchanged.
func TestSharingAcrossRestart(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.22.10-10.210.22.11"})
	e.createService("sip-udp", sharing("sip", port("sip", corev1.ProtocolUDP, 5060)))
	ip := e.waitIP("sip-udp")
	e.createService("sip-tcp", sharing("sip", port("sip", corev1.ProtocolTCP, 5060)))
	e.waitServiceIs("sip-tcp", ip, assignTimeout)
	e.waitEntry(ip, e.key("sip-tcp"))

	e.killProvider()
	e.startProvider()
	e.createService("after", sharing("sip", port("rtp", corev1.ProtocolUDP, 10000)))
	if got := e.waitIP("after"); got != ip {
		t.Errorf("a sharer created after the restart got %s, want the shared %s", got, ip)
	}
	for _, name := range []string{"sip-udp", "sip-tcp"} {
		if got := e.getIP(name); got != ip {
			t.Errorf("%s moved from %s to %s across the restart", name, ip, got)
		}
	}
	e.waitEntry(ip, e.key("after"))
	// A plain Service gets the other address: the shared one is held once, not free.
	e.createService("plain")
	if got := e.waitIP("plain"); got == ip {
		t.Errorf("plain got the shared address %s", ip)
	}
	events, err := eventsOf(e, "sip-tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Type == corev1.EventTypeWarning && ev.Reason != "UnAvailableLoadBalancer" { // the upstream note that no Node exists
			t.Errorf("sip-tcp got Warning %s across the restart: %s", ev.Reason, ev.Message)
		}
	}
}

// TestSharingAcrossNamespaces: one sharing key in two namespaces shares nothing, and
// asking for the other namespace's shared address is refused.
func TestSharingAcrossNamespaces(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: all
    addresses: [10.210.23.10-10.210.23.12]
`, "b")
	a, b := pe.env, pe.in("b")
	a.createService("dns", sharing("dns", port("dns", corev1.ProtocolUDP, 53)))
	ip := a.waitIP("dns")
	b.createService("dns", sharing("dns", port("dns-tcp", corev1.ProtocolTCP, 53)))
	if got := b.waitIP("dns"); got == ip {
		t.Errorf("%s got %s, the address of %s: shared across namespaces", b.key("dns"), got, a.key("dns"))
	}
	// Asking for it, with the key it has in the other namespace, shares nothing either.
	b.createService("asks", withRequestedIP(ip), sharing("dns-"+a.ns, port("x", corev1.ProtocolTCP, 8053)))
	b.waitEvent("asks", "SyncLoadBalancerFailed", ip, "a Service in another namespace")
	b.assertNoIP("asks", time.Second)
}

// TestSharedDrift: hand edits of a shared address's entry are reverted to the sharer
// the entry names (the lowest by name), with the event on that Service; a deleted
// ConfigMap is re-created with it.
func TestSharedDrift(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.24.10-10.210.24.11"})
	e.createService("ntp-b", sharing("ntp", port("ntp", corev1.ProtocolUDP, 123)))
	ip := e.waitIP("ntp-b")
	e.createService("ntp-a", sharing("ntp", port("nts", corev1.ProtocolTCP, 4460)))
	e.waitServiceIs("ntp-a", ip, assignTimeout)
	want := map[string]string{ip: e.key("ntp-a")}
	e.waitRepaired("the entry names the lowest sharer", want)

	e.editConfigMap("point the entry at the other sharer", func(cm *corev1.ConfigMap) { cm.Data[ip] = e.key("ntp-b") })
	e.waitRepaired("the entry restored", want)
	e.waitEvent("ntp-a", "ConfigMapEntryRepaired", ip)

	e.editConfigMap("delete the entry", func(cm *corev1.ConfigMap) { delete(cm.Data, ip) })
	e.waitRepaired("the entry restored", want)
	if err := e.c.CoreV1().ConfigMaps(configMapNamespace).Delete(context.Background(), e.cm, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRepaired("ConfigMap re-created with the shared entry", want)
	for _, name := range []string{"ntp-a", "ntp-b"} {
		if got := e.getIP(name); got != ip {
			t.Errorf("%s moved from %s to %s", name, ip, got)
		}
	}
}
