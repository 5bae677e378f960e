// Package kubeproxy checks that kube-proxy on this node does not undermine VRRP. In IPVS
// mode kube-proxy puts every LoadBalancer address on its dummy interface kube-ipvs0 on
// every node; unless its ipvs.strictARP is set, every node then answers ARP for every
// VIP, whichever node VRRP elected.
package kubeproxy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ipvsInterface is the dummy interface kube-proxy's IPVS mode puts service addresses on.
const ipvsInterface = "kube-ipvs0"

// SysctlDir holds the IPv4 sysctls for all interfaces, which strictARP sets.
const SysctlDir = "/proc/sys/net/ipv4/conf/all"

// StrictARPProblem reports, for people, what is wrong, or "" when nothing is. It is a
// problem when the node has kube-ipvs0 and the arp_ignore and arp_announce sysctls read
// from sysctlDir are not at least what kube-proxy's strictARP sets (1 and 2). The
// sysctls are read only when kube-ipvs0 exists; one that cannot be read is an error.
func StrictARPProblem(sysctlDir string, linkExists func(name string) bool) (problem string, err error) {
	if !linkExists(ipvsInterface) {
		return "", nil
	}
	ignore, err := readSysctl(sysctlDir, "arp_ignore")
	if err != nil {
		return "", err
	}
	announce, err := readSysctl(sysctlDir, "arp_announce")
	if err != nil {
		return "", err
	}
	if ignore >= 1 && announce >= 2 {
		return "", nil
	}
	return fmt.Sprintf("kube-proxy runs in IPVS mode without strictARP: interface %s holds every LoadBalancer "+
		"address, and with arp_ignore=%d and arp_announce=%d in %s (want 1 and 2) this node answers ARP for "+
		"VIPs that VRRP gave to another node; set ipvs.strictARP: true in kube-proxy's configuration "+
		"(kubectl -n kube-system edit configmap kube-proxy) and restart kube-proxy",
		ipvsInterface, ignore, announce, sysctlDir), nil
}

func readSysctl(dir, name string) (int, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading sysctl: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("reading sysctl %s: %w", path, err)
	}
	return v, nil
}

// LinkExists reports whether a network interface of that name exists in this process's
// network namespace.
func LinkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
