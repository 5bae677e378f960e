package provider

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Annotations a Service may carry.
const (
	AnnotationForwardMethod = "k8s.co/keepalived-forward-method"
	AnnotationAddress       = "k8s.co/keepalived-load-balancer-ip"
)

// ErrIPv6 explains why IPv6 is refused: the consumer's ConfigMap keys cannot hold it.
var ErrIPv6 = errors.New("kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':'); use ipFamilyPolicy SingleStack or PreferDualStack with IPv4")

func serviceKey(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// wantsLoadBalancer mirrors the service controller's choice of Services it hands us.
func wantsLoadBalancer(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// checkFamilies refuses Services that require an IPv6 load balancer.
func checkFamilies(svc *corev1.Service) error {
	if p := svc.Spec.IPFamilyPolicy; p != nil && *p == corev1.IPFamilyPolicyRequireDualStack {
		return fmt.Errorf("ipFamilyPolicy RequireDualStack needs an IPv6 address: %w", ErrIPv6)
	}
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv4Protocol {
			return nil
		}
	}
	if len(svc.Spec.IPFamilies) > 0 {
		return fmt.Errorf("ipFamilies %v has no IPv4: %w", svc.Spec.IPFamilies, ErrIPv6)
	}
	return nil
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

// requestedAddress reads the address a Service asks for: the annotation or the deprecated
// spec.loadBalancerIP. The zero Addr means no request.
func requestedAddress(svc *corev1.Service) (netip.Addr, error) {
	fromAnnotation := svc.Annotations[AnnotationAddress]
	fromSpec := svc.Spec.LoadBalancerIP
	if fromAnnotation != "" && fromSpec != "" && fromAnnotation != fromSpec {
		return netip.Addr{}, fmt.Errorf("annotation %s (%q) and spec.loadBalancerIP (%q) ask for different addresses; keep one of them",
			AnnotationAddress, fromAnnotation, fromSpec)
	}
	source, value := "annotation "+AnnotationAddress, fromAnnotation
	if value == "" {
		source, value = "spec.loadBalancerIP", fromSpec
	}
	if value == "" {
		return netip.Addr{}, nil
	}
	addr, err := netip.ParseAddr(value)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("%s: %q is not an IPv4 address", source, value)
	case addr.Is6():
		return netip.Addr{}, fmt.Errorf("%s: %q: %w", source, value, ErrIPv6)
	}
	return addr, nil
}

// statusAddress is the IPv4 address the Service already reports, if any.
func statusAddress(svc *corev1.Service) netip.Addr {
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if addr, err := netip.ParseAddr(ing.IP); err == nil && addr.Is4() {
			return addr
		}
	}
	return netip.Addr{}
}

// describe reads what the ledger needs of a Service. An invalid forward method is
// the Service's own mistake: it is returned, and the description uses the default.
func describe(svc *corev1.Service, fallback vipconfig.Method) (ledger.Service, error) {
	method, err := forwardMethod(svc, fallback)
	if err != nil {
		method = fallback
	}
	request, requestErr := requestedAddress(svc)
	if svc.DeletionTimestamp != nil {
		request, requestErr = netip.Addr{}, nil // a Service on its way out asks for nothing new
	}
	return ledger.Service{
		UID:        svc.UID,
		Key:        serviceKey(svc),
		Namespace:  svc.Namespace,
		Wants:      wantsLoadBalancer(svc),
		Status:     statusAddress(svc),
		Request:    request,
		RequestErr: requestErr,
		Pool:       svc.Annotations[poolconfig.PoolAnnotation],
		Method:     method,
	}, err
}
