package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestForwardMethod: the annotation on create sets the entry's suffix; changing it changes
// the suffix but not the address; an invalid value is refused with an event naming the
// allowed values, and leaves the published entry alone.
func TestForwardMethod(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.2.10-10.210.2.20"})

	e.createService("plain")
	e.waitEntry(e.waitIP("plain"), e.key("plain")) // NAT, the default, is written without a suffix

	e.createService("dr", withForwardMethod("DR"))
	ip := e.waitIP("dr")
	e.waitEntry(ip, e.key("dr")+":DR")

	e.updateService("dr", func(s *corev1.Service) { s.Annotations[annotationForwardMethod] = "PROXY" })
	e.waitEntry(ip, e.key("dr")+":PROXY")
	if got := e.waitIP("dr"); got != ip {
		t.Errorf("changing the forward method moved dr from %s to %s", ip, got)
	}

	e.updateService("dr", func(s *corev1.Service) { s.Annotations[annotationForwardMethod] = "TUN" })
	e.waitEvent("dr", "SyncLoadBalancerFailed", annotationForwardMethod, `"TUN"`, "NAT", "DR", "PROXY")
	if got := e.configMap().Data[ip]; got != e.key("dr")+":PROXY" {
		t.Errorf("after an invalid forward method, entry %s = %q, want the previous %q", ip, got, e.key("dr")+":PROXY")
	}
	if got := e.waitIP("dr"); got != ip {
		t.Errorf("after an invalid forward method, dr reports %s, want %s", got, ip)
	}

	// The consumer wants upper case: a lower-case annotation is written upper case.
	e.createService("lower", withForwardMethod("dr"))
	e.waitEntry(e.waitIP("lower"), e.key("lower")+":DR")

	// Invalid from the start: no address, nothing published.
	e.createService("bad", withForwardMethod("nope"))
	e.waitEvent("bad", "SyncLoadBalancerFailed", `"nope"`, "NAT", "DR", "PROXY")
	e.assertNoIP("bad", 0)
	for k, v := range e.configMap().Data {
		if v == e.key("bad") || strings.HasPrefix(v, e.key("bad")+":") {
			t.Errorf("Service bad, with an invalid forward method, has entry %q: %q", k, v)
		}
	}
}

// TestDefaultForwardMethod: KEEPALIVED_DEFAULT_FORWARD_METHOD applies to Services without
// the annotation; the annotation still wins.
func TestDefaultForwardMethod(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.12.10-10.210.12.20", env: []string{"KEEPALIVED_DEFAULT_FORWARD_METHOD=DR"}})

	e.createService("plain")
	e.waitEntry(e.waitIP("plain"), e.key("plain")+":DR")

	e.createService("nat", withForwardMethod("NAT"))
	e.waitEntry(e.waitIP("nat"), e.key("nat"))
}
