package agent

import (
	"fmt"
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

// entries reads a VIP ConfigMap of family f (nil when missing) into the VIPs to
// announce, sorted, and the entries it cannot use. Every key of the family outside the
// special-purpose blocks is announced, whoever wrote it: an empty value means
// "announce only". The forward method suffix is accepted and ignored: it was an IPVS
// mode of kube-keepalived-vip; forwarding is the service proxy's job now.
func entries(cm *corev1.ConfigMap, f vipconfig.Family) ([]keepalived.VIP, []problem) {
	if cm == nil {
		return nil, nil
	}
	var vips []keepalived.VIP
	var problems []problem
	for key, value := range cm.Data {
		addr, ok := f.CanonicalKey(key)
		if !ok {
			problems = append(problems, problem{key, value, keyProblem(key, f)})
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

func keyProblem(key string, f vipconfig.Family) string {
	if f == vipconfig.IPv6 {
		if _, err := vipconfig.DecodeIPv6Key(key); err != nil {
			return err.Error()
		}
	}
	return "key is not an " + f.String() + " address"
}
