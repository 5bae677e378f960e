package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/keepalived"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Problem is a ConfigMap entry the agent cannot announce.
type Problem struct {
	Key, Value, Reason string
}

func (p Problem) String() string { return fmt.Sprintf("%q: %q: %s", p.Key, p.Value, p.Reason) }

// Entries reads the VIP ConfigMap (nil when missing) into the VIPs to announce, sorted,
// and the entries it cannot use. Every IPv4 key is announced, whoever wrote it: an empty
// value means "announce only". The forward method suffix is accepted and ignored: it
// was an IPVS mode of kube-keepalived-vip; forwarding is the service proxy's job now.
func Entries(cm *corev1.ConfigMap) ([]keepalived.VIP, []Problem) {
	if cm == nil {
		return nil, nil
	}
	var vips []keepalived.VIP
	var problems []Problem
	for key, value := range cm.Data {
		addr, err := netip.ParseAddr(key)
		if err != nil || !addr.Is4() || addr.String() != key {
			problems = append(problems, Problem{key, value, "key is not an IPv4 address"})
			continue
		}
		if reason := unannounceable(addr); reason != "" {
			problems = append(problems, Problem{key, value, reason})
			continue
		}
		vip := keepalived.VIP{Addr: addr}
		if value != "" {
			entry, err := vipconfig.ParseValue(value)
			if err != nil {
				problems = append(problems, Problem{key, value, err.Error()})
				continue
			}
			vip.Service = entry.Service
		}
		vips = append(vips, vip)
	}
	slices.SortFunc(vips, func(a, b keepalived.VIP) int { return a.Addr.Compare(b.Addr) })
	slices.SortFunc(problems, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return vips, problems
}

// unannounceable says why addr must never be put on an interface, or "".
func unannounceable(addr netip.Addr) string {
	switch {
	case addr.IsUnspecified(), addr.IsLoopback(), addr.IsMulticast(), addr.IsLinkLocalUnicast():
		return "address is unspecified, loopback, multicast or link-local"
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "address is the broadcast address"
	}
	return ""
}
