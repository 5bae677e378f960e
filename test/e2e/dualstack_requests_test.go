package e2e

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDualStackRequests: the annotation names one address per family, comma
// separated, and each family gets the one asked for; spec.loadBalancerIP names one
// of either family and the other family is picked; an address held in one family
// is refused naming the holder; bad input (two of a family, a family the Service
// lacks, not an address) is refused with an event naming the value and never costs
// a Service the addresses it holds.
func TestDualStackRequests(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.63.10-10.210.63.20,fd00:63::10-fd00:63::20"})

	e.createService("both", withFamilies(requireDual), withRequestedIP("fd00:63::15, 10.210.63.15"))
	e.waitIPs("both", "10.210.63.15", "fd00:63::15")
	e.waitEntry("10.210.63.15", e.key("both"))
	e.waitEntry6("fd00:63::15", e.key("both"))

	e.createService("spec6", withFamilies(preferDual), withLoadBalancerIP("fd00:63::16"))
	e.waitIPs("spec6", "10.210.63.10", "fd00:63::16")

	e.createService("taken6", withFamilies(preferDual), withRequestedIP("fd00:63::15"))
	e.waitEvent("taken6", "SyncLoadBalancerFailed", "requested address fd00:63::15 is not available", e.key("both"))

	e.createService("two6", withFamilies(preferDual), withRequestedIP("fd00:63::17,fd00:63::18"))
	e.waitEvent("two6", "SyncLoadBalancerFailed", annotationAddress, `"fd00:63::17,fd00:63::18" names two IPv6 addresses`)
	e.createService("v4asks6", withRequestedIP("fd00:63::19"))
	e.waitEvent("v4asks6", "SyncLoadBalancerFailed", "fd00:63::19, an IPv6 address", "ipFamilies are [IPv4]", "PreferDualStack")
	for _, name := range []string{"taken6", "two6", "v4asks6"} {
		e.assertIPs(name, 0)
	}

	// A bad edit of a Service that holds both addresses: refused, nothing lost.
	e.updateService("both", func(s *corev1.Service) { s.Annotations[annotationAddress] = "10.210.63.15,fd00:63::zz" })
	e.waitEvent("both", "SyncLoadBalancerFailed", `"fd00:63::zz" is not an IP address`)
	e.assertIPs("both", 6*time.Second, "10.210.63.15", "fd00:63::15")
	e.waitEntry6("fd00:63::15", e.key("both"))

	// Asking for another IPv6 address moves only that family.
	e.updateService("both", func(s *corev1.Service) { s.Annotations[annotationAddress] = "10.210.63.15,fd00:63::20" })
	e.waitIPs("both", "10.210.63.15", "fd00:63::20")
	e.waitNoEntry6("fd00:63::15")
	// taken6 was waiting for fd00:63::15 and gets it with its next retry.
	e.waitServiceWithin("taken6", 3*allocationRetry, "10.210.63.11", "fd00:63::15")
	e.waitEntry6("fd00:63::15", e.key("taken6"))
}

// TestDualStackRestart: the provider is killed with dual-stack and IPv6-only
// Services holding addresses; while it is down one of them is deleted and a Service
// asks for its IPv6 address. The new process moves nothing and gives the requester
// the freed IPv6 address; a dual-stack Service created then gets the lowest free
// address of each family (the freed IPv4 one, not the requested IPv6 one), and
// both ConfigMaps agree with the statuses.
func TestDualStackRestart(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.64.10-10.210.64.20,fd00:64::/124"})
	before := map[string][]string{}
	for _, c := range []struct {
		name string
		opts []svcOption
		fams []string
	}{
		{"a", []svcOption{withFamilies(preferDual)}, []string{"IPv4", "IPv6"}},
		{"b", []svcOption{withFamilies(requireDual)}, []string{"IPv4", "IPv6"}},
		{"c", []svcOption{withFamilies(singleStack, ipv6Protocol)}, []string{"IPv6"}},
		{"d", nil, []string{"IPv4"}},
	} {
		e.createService(c.name, c.opts...)
		before[c.name] = e.waitFamilies(c.name, c.fams...) // one at a time: the lowest free ones
	}
	if want := []string{"10.210.64.11", "fd00:64::2"}; !slices.Equal(before["b"], want) {
		t.Fatalf("b got %v before the restart, want %v", before["b"], want)
	}

	e.killProvider()
	if err := e.c.CoreV1().Services(e.ns).Delete(context.Background(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.createService("requester", withFamilies(singleStack, ipv6Protocol), withRequestedIP(before["b"][1]))
	e.startProvider()

	e.waitIPs("requester", before["b"][1])
	e.waitEntry6(before["b"][1], e.key("requester"))
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	e.waitGone(ctx, "b")
	cancel()
	// b's IPv4 address is free again, and the lowest: a newcomer gets it, and the
	// lowest IPv6 address nobody holds.
	e.createService("newcomer", withFamilies(preferDual))
	e.waitIPs("newcomer", before["b"][0], "fd00:64::4")
	for name, ips := range before {
		if name == "b" {
			continue
		}
		if got := ingressIPs(e.getService(name)); !slices.Equal(got, ips) {
			t.Errorf("%s moved from %v to %v across the restart", name, ips, got)
		}
	}
	want4, want6 := map[string]string{}, map[string]string{}
	for name, ips := range map[string][]string{"a": before["a"], "c": before["c"], "d": before["d"], "requester": {before["b"][1]}, "newcomer": {before["b"][0], "fd00:64::4"}} {
		for _, ip := range ips {
			if familiesOf([]string{ip})[0] == "IPv4" {
				want4[ip] = e.key(name)
			} else {
				want6[key6(ip)] = e.key(name)
			}
		}
	}
	e.waitData6("IPv6 ConfigMap agrees with the statuses", assignTimeout, want6)
	if cm := e.configMap(); cm == nil || !maps.Equal(cm.Data, want4) {
		t.Errorf("IPv4 ConfigMap %v, want %v", cm, want4)
	}
}
