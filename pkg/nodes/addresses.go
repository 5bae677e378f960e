package nodes

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	cloudproviderapi "k8s.io/cloud-provider/api"
	netutils "k8s.io/utils/net"
)

// source is an annotation that lists addresses of one type.
type source struct {
	key   string
	typ   corev1.NodeAddressType
	parse func(string) (netip.Addr, bool)
}

var sources = []source{
	// kubelet --node-ip with --cloud-provider=external. The node controller refuses
	// addresses that lack it, so it is always an InternalIP. kubelet accepts its flag
	// with Kubernetes' lenient parser (leading zeros), so it is read the same way.
	{cloudproviderapi.AnnotationAlphaProvidedIPAddr, corev1.NodeInternalIP, parseSloppy},
	{AnnotationInternalIPs, corev1.NodeInternalIP, parseStrict},
	{AnnotationExternalIPs, corev1.NodeExternalIP, parseStrict},
}

// Addresses are the Node's addresses: kubelet's provided node IPs, the operator's
// internal and external ones, and the Hostname (label kubernetes.io/hostname, else the
// Node's name). A Node that has none of these annotations keeps the IP addresses it
// reports: its kubelet set them itself, and there is nothing better to say. Every
// entry that is not an address is reported, all together.
func Addresses(node *corev1.Node) ([]corev1.NodeAddress, error) {
	var out []corev1.NodeAddress
	var errs []error
	said := false
	for _, src := range sources {
		value, ok := node.Annotations[src.key]
		if !ok {
			continue
		}
		said = true
		ips, err := parseList(value, src.parse)
		if err != nil {
			errs = append(errs, &AnnotationError{Node: node.Name, Key: src.key, Value: value, Reason: err.Error()})
		}
		for _, ip := range ips {
			out = appendNew(out, corev1.NodeAddress{Type: src.typ, Address: ip.String()})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !said {
		for _, a := range node.Status.Addresses {
			if a.Type != corev1.NodeHostName {
				out = appendNew(out, a)
			}
		}
	}
	return appendNew(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: hostname(node)}), nil
}

// hostname is kubelet's hostname (its label, which --hostname-override sets), else the Node's name.
func hostname(node *corev1.Node) string {
	if h := node.Labels[corev1.LabelHostname]; h != "" {
		return h
	}
	return node.Name
}

// parseList reads comma-separated addresses; blanks around entries are ignored.
func parseList(value string, parse func(string) (netip.Addr, bool)) ([]netip.Addr, error) {
	var ips []netip.Addr
	var bad []string
	for _, item := range strings.Split(value, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		ip, ok := parse(item)
		if !ok || ip.IsUnspecified() {
			bad = append(bad, fmt.Sprintf("%q", item))
			continue
		}
		ips = append(ips, ip)
	}
	if len(bad) > 0 {
		return ips, fmt.Errorf("%s: not a node address; give comma-separated IPv4 or IPv6 addresses such as 192.0.2.10,2001:db8::10", strings.Join(bad, ", "))
	}
	return ips, nil
}

// parseStrict accepts what net/netip does, except zones (fe80::1%eth0): a Node's
// address is the same on every host that reads it.
func parseStrict(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// parseSloppy accepts what kubelet accepts for --node-ip.
func parseSloppy(s string) (netip.Addr, bool) {
	ip, ok := netip.AddrFromSlice(netutils.ParseIPSloppy(s))
	return ip.Unmap(), ok
}

// appendNew appends a unless addrs already holds it.
func appendNew(addrs []corev1.NodeAddress, a corev1.NodeAddress) []corev1.NodeAddress {
	if slices.Contains(addrs, a) {
		return addrs
	}
	return append(addrs, a)
}
