package e2e

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestDualStackPolicies: on the dual-stack API server, with a pool of both families,
// SingleStack IPv6 gets one IPv6 address, PreferDualStack and RequireDualStack one of
// each (IPv4 first in the status, whatever the primary family), a Service that names
// no policy stays IPv4 as ever. Each address is published in its own family's
// ConfigMap, the IPv6 one under its encoded key, with its own usage summary. A
// Service turned single-stack gives up the address of the family it dropped; one
// turned dual-stack gets the other family's; a delete removes both entries.
func TestDualStackPolicies(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.60.10-10.210.60.20,fd00:60::/120"})

	requireFamilies(t, e.createService("v6only", withFamilies(singleStack, ipv6Protocol)), ipv6Protocol)
	e.waitIPs("v6only", "fd00:60::1") // fd00:60:: is the /120's subnet-router anycast address
	e.waitEntry6("fd00:60::1", e.key("v6only"))
	if got := e.entriesOf(e.cm, "v6only"); len(got) != 0 {
		t.Errorf("IPv4 ConfigMap lists %v for the IPv6-only Service", got)
	}

	requireFamilies(t, e.createService("prefer", withFamilies(preferDual)), ipv4Protocol, ipv6Protocol)
	e.waitIPs("prefer", "10.210.60.10", "fd00:60::2")
	e.waitEntry("10.210.60.10", e.key("prefer"))
	e.waitEntry6("fd00:60::2", e.key("prefer"))

	e.createService("require", withFamilies(requireDual))
	e.waitIPs("require", "10.210.60.11", "fd00:60::3")
	requireFamilies(t, e.createService("v6first", withFamilies(preferDual, ipv6Protocol, ipv4Protocol)), ipv6Protocol, ipv4Protocol)
	e.waitIPs("v6first", "10.210.60.12", "fd00:60::4")
	e.createService("plain")
	if got := e.waitIP("plain"); got != "10.210.60.13" {
		t.Errorf("plain got %s, want 10.210.60.13 (and nothing else)", got)
	}
	e.waitUsage("default: 4 of 11 in use")
	ipv6 := *e
	ipv6.cm = e.cm6
	ipv6.waitUsage("default: 4 of 255 in use")

	// Turned single-stack: the IPv6 address goes, the IPv4 one stays.
	e.updateService("require", func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &singleStack
		s.Spec.IPFamilies, s.Spec.ClusterIPs = s.Spec.IPFamilies[:1], s.Spec.ClusterIPs[:1]
	})
	e.waitIPs("require", "10.210.60.11")
	e.waitNoEntry6("fd00:60::3")
	e.waitEntry("10.210.60.11", e.key("require"))
	// Turned dual-stack: the lowest free IPv6 address is added, the IPv4 one stays.
	e.updateService("plain", func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &preferDual })
	e.waitIPs("plain", "10.210.60.13", "fd00:60::3")
	e.waitEntry6("fd00:60::3", e.key("plain"))

	e.deleteService("prefer")
	e.waitNoEntry("10.210.60.10")
	e.waitNoEntry6("fd00:60::2")
	for name, want := range map[string][]string{
		"v6only": {"fd00:60::1"}, "v6first": {"10.210.60.12", "fd00:60::4"}, "require": {"10.210.60.11"},
	} {
		if got := ingressIPs(e.getService(name)); !slices.Equal(got, want) {
			t.Errorf("%s moved from %v to %v", name, want, got)
		}
	}
}

// TestRequireDualStackWithoutIPv6Pool: with pools of IPv4 only, a RequireDualStack
// Service gets a Warning event naming the family no pool has, and no address of
// either family; PreferDualStack gets its IPv4 address; SingleStack IPv6 is told no
// pool has IPv6. Once the pools file gains an IPv6 range, both waiting Services get
// their addresses and nothing held moves.
func TestRequireDualStackWithoutIPv6Pool(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: v4
    addresses: [10.210.61.10-10.210.61.20]
`)
	e := pe.env
	e.createService("require", withFamilies(requireDual))
	e.waitEvent("require", "SyncLoadBalancerFailed", "ipFamilyPolicy RequireDualStack needs an IPv6 address",
		`no address pool that serves namespace "`+e.ns+`" has IPv6 addresses`, "no address of either family")
	e.createService("prefer", withFamilies(preferDual))
	if got := e.waitIP("prefer"); got != "10.210.61.10" {
		t.Errorf("prefer got %s, want 10.210.61.10: require must not hold an IPv4 address", got)
	}
	e.createService("v6only", withFamilies(singleStack, ipv6Protocol))
	e.waitEvent("v6only", "SyncLoadBalancerFailed", `no address pool serving namespace "`+e.ns+`" has IPv6 addresses (pools "v4" have none)`)
	e.assertIPs("require", 6*time.Second) // longer than its 5 s retry
	e.assertIPs("v6only", 0)
	if got := e.entriesOf(e.cm, "require"); len(got) != 0 {
		t.Errorf("IPv4 ConfigMap lists %v for require, which must get nothing", got)
	}

	pe.writePools(`
pools:
  - name: v4
    addresses: [10.210.61.10-10.210.61.20]
  - name: v6
    addresses: ["fd00:61::10-fd00:61::20"]
`)
	e.waitServiceWithin("require", reloadTimeout+allocationRetry, "10.210.61.11", "fd00:61::10")
	e.waitServiceWithin("v6only", reloadTimeout+allocationRetry, "fd00:61::11")
	e.waitEntry("10.210.61.11", e.key("require"))
	e.waitEntry6("fd00:61::10", e.key("require"))
	e.waitEntry6("fd00:61::11", e.key("v6only"))
	// prefer held its IPv4 address and was synced before the pools changed: it keeps
	// exactly that until its next sync.
	e.assertIPs("prefer", 0, "10.210.61.10")
}

// allocationRetry is the provider's retry of a Service that could not get an address.
const allocationRetry = 5 * time.Second

// waitServiceWithin waits, at most d, until the Service's status lists exactly want.
func (e *env) waitServiceWithin(name string, d time.Duration, want ...string) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := ingressIPs(e.getService(name))
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("Service %s has ingress %v after %s, want %v", name, got, d, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDualStackNamespacePools: per-namespace pools hold per family. A pool of both
// families for one namespace and a shared IPv4 pool: PreferDualStack gets both in
// that namespace and IPv4 only elsewhere; another namespace may not request the
// team's IPv6 address; the team's request of one is honoured.
func TestDualStackNamespacePools(t *testing.T) {
	pe := newPoolsEnv(t, `
pools:
  - name: team
    addresses: [10.210.62.10-10.210.62.12, "fd00:62::/125"]
    namespaces: [{ns}]
  - name: shared
    addresses: [10.210.62.100-10.210.62.110]
`, "other")
	e, other := pe.env, pe.in("other")
	e.createService("both", withFamilies(preferDual))
	e.waitIPs("both", "10.210.62.10", "fd00:62::1")
	other.createService("both", withFamilies(preferDual))
	if got := other.waitIP("both"); got != "10.210.62.100" {
		t.Errorf("%s got %s, want 10.210.62.100 from the shared pool and no IPv6", other.key("both"), got)
	}
	other.createService("squat", withFamilies(preferDual), withRequestedIP("fd00:62::5"))
	other.waitEvent("squat", "SyncLoadBalancerFailed", "requested address fd00:62::5", `pool "team"`)
	other.assertIPs("squat", 0)
	e.createService("asks", withFamilies(requireDual), withRequestedIP("fd00:62::5"))
	e.waitIPs("asks", "10.210.62.11", "fd00:62::5")
	e.waitEntry6("fd00:62::5", e.key("asks"))
}
