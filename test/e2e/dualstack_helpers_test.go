package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers for the dual-stack tests (dualstack_*_test.go).

// key6 is the key of an IPv6 address in the IPv6 ConfigMap: its RFC 5952 text with
// every ':' written as '-' (spelled out here, not imported, as the other names are).
func key6(ip string) string {
	return strings.ReplaceAll(netip.MustParseAddr(ip).String(), ":", "-")
}

// withFamilies sets spec.ipFamilyPolicy, and spec.ipFamilies when given (else the API
// server fills them in, IPv4 first on this cluster).
func withFamilies(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) svcOption {
	return func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &policy
		s.Spec.IPFamilies = fams
	}
}

var (
	singleStack  = corev1.IPFamilyPolicySingleStack
	preferDual   = corev1.IPFamilyPolicyPreferDualStack
	requireDual  = corev1.IPFamilyPolicyRequireDualStack
	ipv4Protocol = corev1.IPv4Protocol
	ipv6Protocol = corev1.IPv6Protocol
)

// ingressIPs lists the Service's ingress IPs in order.
func ingressIPs(s *corev1.Service) []string {
	var ips []string
	for _, ing := range s.Status.LoadBalancer.Ingress {
		ips = append(ips, ing.IP)
	}
	return ips
}

// waitIPs waits until the Service's status lists exactly want, and checks that
// every entry is an IP with ipMode VIP.
func (e *env) waitIPs(name string, want ...string) *corev1.Service {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	s, err := controlplane.WaitForService(ctx, e.c, e.ns, name, fmt.Sprintf("ingress IPs %v", want), func(s *corev1.Service) bool {
		return slices.Equal(ingressIPs(s), want)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP || ing.Hostname != "" {
			e.t.Errorf("Service %s ingress %+v: want an IP with ipMode VIP", name, ing)
		}
	}
	return s
}

// waitFamilies waits for an address of each family in fams (IPv4 first) and returns
// them in that order.
func (e *env) waitFamilies(name string, fams ...string) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	s, err := controlplane.WaitForService(ctx, e.c, e.ns, name, fmt.Sprintf("one ingress IP of each of %v", fams), func(s *corev1.Service) bool {
		return slices.Equal(familiesOf(ingressIPs(s)), fams)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ingressIPs(s)
}

// familiesOf names the family of each address: "IPv4" or "IPv6".
func familiesOf(ips []string) []string {
	var out []string
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
			out = append(out, "bad")
		case a.Is4():
			out = append(out, "IPv4")
		default:
			out = append(out, "IPv6")
		}
	}
	return out
}

// assertIPs checks that the Service's status is want now and for the next d.
func (e *env) assertIPs(name string, d time.Duration, want ...string) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if s := e.getService(name); !slices.Equal(ingressIPs(s), want) {
			e.t.Fatalf("Service %s: ingress %v, want %v: %s", name, ingressIPs(s), want, controlplane.DescribeService(s))
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitEntry6 waits until the IPv6 ConfigMap maps ip's key to value and lists it as
// the provider's.
func (e *env) waitEntry6(ip, value string) *corev1.ConfigMap {
	e.t.Helper()
	key := key6(ip)
	return e.waitConfigMapNamed(e.cm6, fmt.Sprintf("entry %q: %q owned by the provider", key, value), func(cm *corev1.ConfigMap) bool {
		v, ok := cm.Data[key]
		return ok && v == value && slices.Contains(ownedKeys(cm), key)
	})
}

// waitNoEntry6 waits until the IPv6 ConfigMap has no key for ip, in data or as owned.
func (e *env) waitNoEntry6(ip string) {
	e.t.Helper()
	key := key6(ip)
	e.waitConfigMapNamed(e.cm6, fmt.Sprintf("no entry %q", key), func(cm *corev1.ConfigMap) bool {
		_, ok := cm.Data[key]
		return !ok && !slices.Contains(ownedKeys(cm), key)
	})
}

func (e *env) waitConfigMapNamed(name, what string, cond func(*corev1.ConfigMap) bool) *corev1.ConfigMap {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	cm, err := controlplane.WaitForConfigMap(ctx, e.c, configMapNamespace, name, what, cond)
	if err != nil {
		e.t.Fatal(err)
	}
	return cm
}

// entriesOf are the keys of the ConfigMap name whose value names the Service.
func (e *env) entriesOf(name, service string) []string {
	e.t.Helper()
	var keys []string
	if cm := e.configMapNamed(name); cm != nil {
		for k, v := range cm.Data {
			if v == e.key(service) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// waitData6 waits until the IPv6 ConfigMap's data is exactly want.
func (e *env) waitData6(what string, timeout time.Duration, want map[string]string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := controlplane.WaitForConfigMap(ctx, e.c, configMapNamespace, e.cm6, what, func(cm *corev1.ConfigMap) bool {
		return maps.Equal(cm.Data, want)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// editConfigMap6 changes the IPv6 ConfigMap as a person would.
func (e *env) editConfigMap6(what string, edit func(*corev1.ConfigMap)) {
	e.t.Helper()
	other := *e
	other.cm = e.cm6
	other.editConfigMap(what, edit)
}

// requireFamilies skips nothing: it fails a test whose cluster is not dual-stack, so a
// change of the control plane's flags cannot turn these tests into silent passes.
func requireFamilies(t *testing.T, s *corev1.Service, want ...corev1.IPFamily) {
	t.Helper()
	if !slices.Equal(s.Spec.IPFamilies, want) {
		t.Fatalf("Service %s/%s has ipFamilies %v, want %v: is the API server started with the dual-stack --service-cluster-ip-range %s?",
			s.Namespace, s.Name, s.Spec.IPFamilies, want, serviceCIDRs)
	}
}
