package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/keepalived"
	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// problem is a ConfigMap entry the agent cannot announce.
type problem struct {
	Key, Value, Reason string
}

func (p problem) String() string { return fmt.Sprintf("%q: %q: %s", p.Key, p.Value, p.Reason) }

// entries reads the VIP ConfigMap (nil when missing) into the VIPs to announce, sorted,
// and the entries it cannot use. Every IPv4 key outside the special-purpose blocks is
// announced, whoever wrote it: an empty value means "announce only". The forward
// method suffix is accepted and ignored: it was an IPVS mode of kube-keepalived-vip;
// forwarding is the service proxy's job now.
func entries(cm *corev1.ConfigMap) ([]keepalived.VIP, []problem) {
	if cm == nil {
		return nil, nil
	}
	var vips []keepalived.VIP
	var problems []problem
	for key, value := range cm.Data {
		addr, err := netip.ParseAddr(key)
		if err != nil || !addr.Is4() || addr.String() != key {
			problems = append(problems, problem{key, value, "key is not an IPv4 address"})
			continue
		}
		// The provider's own rule: a hand-written key must not put on the segment an
		// address the provider would never hand out.
		if err := ipam.CheckSpecial(addr); err != nil {
			problems = append(problems, problem{key, value, err.Error()})
			continue
		}
		vip := keepalived.VIP{Addr: addr}
		if value != "" {
			entry, err := vipconfig.ParseValue(value)
			if err != nil {
				problems = append(problems, problem{key, value, err.Error()})
				continue
			}
			vip.Service = entry.Service
		}
		vips = append(vips, vip)
	}
	slices.SortFunc(vips, func(a, b keepalived.VIP) int { return a.Addr.Compare(b.Addr) })
	slices.SortFunc(problems, func(a, b problem) int { return strings.Compare(a.Key, b.Key) })
	return vips, problems
}
