package provider

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/trafficpolicy"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Annotations a Service may carry.
const (
	AnnotationForwardMethod = "k8s.co/keepalived-forward-method"
	// AnnotationAddress names the addresses a Service asks for: one per family,
	// comma separated ("10.0.0.5,fd00::5").
	AnnotationAddress = "k8s.co/keepalived-load-balancer-ip"
	// AnnotationShare is the sharing key: Services of one namespace with the same
	// value may share one address (see ledger.Service.Share).
	AnnotationShare = ledger.AnnotationShare
)

// families are the two address families, each with a ledger, a ConfigMap and a
// status entry of its own; indexed by vipconfig.Family.
var families = [...]vipconfig.Family{vipconfig.IPv4, vipconfig.IPv6}

// perFamily is what each family's ledger needs of one Service.
type perFamily [len(families)]ledger.Service

func serviceKey(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// Serves reports whether svc is ours to give an address: a LoadBalancer of our
// class, or of no class unless class-only (the upstream service controller's
// choice of the Services it hands us).
func (c Config) Serves(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return !c.ClassOnly
	}
	return c.Class != "" && *svc.Spec.LoadBalancerClass == c.Class
}

// portsOf are the ports a Service serves, which sharers of its address may not serve.
func portsOf(svc *corev1.Service) []ledger.Port {
	ports := make([]ledger.Port, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		ports = append(ports, ledger.Port{Protocol: string(p.Protocol), Number: p.Port})
	}
	return ports
}

// ipFamiliesOf is spec.ipFamilies, primary first. A Service that names none (as
// objects from before dual-stack, or fakes, do) is IPv4.
func ipFamiliesOf(svc *corev1.Service) []vipconfig.Family {
	var out []vipconfig.Family
	for _, f := range svc.Spec.IPFamilies {
		fam := familyOfProtocol(f)
		if !slices.Contains(out, fam) {
			out = append(out, fam)
		}
	}
	if len(out) == 0 {
		out = []vipconfig.Family{vipconfig.IPv4}
	}
	return out
}

func familyOfProtocol(f corev1.IPFamily) vipconfig.Family {
	if f == corev1.IPv6Protocol {
		return vipconfig.IPv6
	}
	return vipconfig.IPv4
}

// protocolOf names fam as spec.ipFamilies does, for messages.
func protocolOf(fam vipconfig.Family) corev1.IPFamily {
	if fam == vipconfig.IPv6 {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// policyOf is spec.ipFamilyPolicy; SingleStack when unset.
func policyOf(svc *corev1.Service) corev1.IPFamilyPolicy {
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		return *p
	}
	return corev1.IPFamilyPolicySingleStack
}

// forwardMethod reads the annotation, falling back to the configured default.
func forwardMethod(svc *corev1.Service, fallback vipconfig.Method) (vipconfig.Method, error) {
	v, ok := svc.Annotations[AnnotationForwardMethod]
	if !ok {
		return fallback, nil
	}
	m, err := vipconfig.ParseMethod(v)
	if err != nil {
		return "", fmt.Errorf("annotation %s: %q is not a forward method; use NAT, DR or PROXY", AnnotationForwardMethod, v)
	}
	return m, nil
}

// requested is one address per family; the zero Addr means no request.
type requested [len(families)]netip.Addr

// requestedAddresses reads the addresses a Service asks for: the annotation (one
// address per family, comma separated) or the deprecated spec.loadBalancerIP (one
// address of either family). A family the Service does not have cannot be asked for.
func requestedAddresses(svc *corev1.Service) (requested, error) {
	fromAnnotation, err := parseRequest(svc.Annotations[AnnotationAddress])
	if err != nil {
		return requested{}, fmt.Errorf("annotation %s: %w", AnnotationAddress, err)
	}
	fromSpec, err := parseSpecRequest(svc.Spec.LoadBalancerIP)
	if err != nil {
		return requested{}, err
	}
	req := fromAnnotation
	if fromSpec.IsValid() {
		fam := ledger.FamilyOf(fromSpec)
		if fromAnnotation != (requested{}) && fromAnnotation[fam] != fromSpec {
			return requested{}, fmt.Errorf("annotation %s (%q) and spec.loadBalancerIP (%q) ask for different addresses; keep one of them",
				AnnotationAddress, svc.Annotations[AnnotationAddress], svc.Spec.LoadBalancerIP)
		}
		req[fam] = fromSpec
	}
	return req, checkRequestFamilies(svc, req)
}

// parseRequest reads the annotation's list: at most one address per family.
func parseRequest(value string) (requested, error) {
	var req requested
	if strings.TrimSpace(value) == "" {
		return req, nil
	}
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		addr, err := netip.ParseAddr(item)
		if err != nil || addr.Zone() != "" {
			return requested{}, fmt.Errorf("%q is not an IP address: give one IPv4 and one IPv6 address at most, comma separated, such as 10.210.38.65,fd00::65", item)
		}
		if addr.Is4In6() {
			return requested{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address: write it as %s", item, addr.Unmap())
		}
		fam := ledger.FamilyOf(addr)
		if req[fam].IsValid() {
			return requested{}, fmt.Errorf("%q names two %s addresses (%s and %s): a Service gets one address per family", value, fam, req[fam], addr)
		}
		req[fam] = addr
	}
	return req, nil
}

// parseSpecRequest reads spec.loadBalancerIP: one address of either family.
func parseSpecRequest(value string) (netip.Addr, error) {
	if value == "" {
		return netip.Addr{}, nil
	}
	addr, err := netip.ParseAddr(value)
	switch {
	case err != nil || addr.Zone() != "":
		return netip.Addr{}, fmt.Errorf("spec.loadBalancerIP: %q is not an IP address; it holds one address (use annotation %s for one per family)", value, AnnotationAddress)
	case addr.Is4In6():
		return netip.Addr{}, fmt.Errorf("spec.loadBalancerIP: %q is an IPv4-mapped IPv6 address: write it as %s", value, addr.Unmap())
	}
	return addr, nil
}

// checkRequestFamilies refuses a request of a family the Service does not have:
// it would never be given, and silence would hide the mistake.
func checkRequestFamilies(svc *corev1.Service, req requested) error {
	have := ipFamiliesOf(svc)
	for fam, addr := range req {
		if addr.IsValid() && !slices.Contains(have, vipconfig.Family(fam)) {
			return fmt.Errorf("the Service asks for %s, an %s address, but its ipFamilies are %v: set ipFamilyPolicy PreferDualStack or RequireDualStack (on a dual-stack cluster) to get %s, or ask for an address of its family",
				addr, vipconfig.Family(fam), svc.Spec.IPFamilies, protocolOf(vipconfig.Family(fam)))
		}
	}
	return nil
}

// statusAddresses are the addresses the Service reports, the first of each family.
func statusAddresses(svc *corev1.Service) requested {
	var out requested
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		addr, err := netip.ParseAddr(ing.IP)
		if err != nil || addr.Is4In6() {
			continue
		}
		if fam := ledger.FamilyOf(addr); !out[fam].IsValid() {
			out[fam] = addr
		}
	}
	return out
}

// describe reads what each family's ledger needs of a Service. An invalid forward
// method is the Service's own mistake: it is returned, and the description uses
// the default. An unreadable request is each ledger's RequestErr.
func describe(svc *corev1.Service, cfg Config) (perFamily, error) {
	method, err := forwardMethod(svc, cfg.DefaultMethod)
	if err != nil {
		method = cfg.DefaultMethod
	}
	serves := cfg.Serves(svc)
	var ports []ledger.Port
	share := strings.TrimSpace(svc.Annotations[AnnotationShare])
	if share != "" {
		ports = portsOf(svc) // only sharers are compared: no copy for the others
	}
	req, requestErr := requestedAddresses(svc)
	if svc.DeletionTimestamp != nil {
		req, requestErr = requested{}, nil // a Service on its way out asks for nothing new
	}
	status, have := statusAddresses(svc), ipFamiliesOf(svc)
	var out perFamily
	for _, fam := range families {
		out[fam] = ledger.Service{
			UID:       svc.UID,
			Key:       serviceKey(svc),
			Namespace: svc.Namespace,
			// A status address of a family the Service has just dropped is still
			// followed, so nobody else gets it before the Service lets it go.
			Wants:      serves && (slices.Contains(have, fam) || status[fam].IsValid()),
			Status:     status[fam],
			Request:    req[fam],
			RequestErr: requestErr,
			Pool:       svc.Annotations[poolconfig.PoolAnnotation],
			Method:     method,
			Share:      share,
			Ports:      ports,
			Local:      share != "" && trafficpolicy.Local(svc),
		}
	}
	return out, err
}

// relevant are the families whose ledgers must be ready before a decision about
// svc: those it has, and those its status shows. An IPv4 Service never waits for
// the IPv6 ledger.
func relevant(svc *corev1.Service, in perFamily) []vipconfig.Family {
	out := ipFamiliesOf(svc)
	for _, fam := range families {
		if in[fam].Status.IsValid() && !slices.Contains(out, fam) {
			out = append(out, fam)
		}
	}
	return out
}
