package nodes

import (
	"strings"
	"testing"

	cloudnodeutil "k8s.io/cloud-provider/node/helpers"
	netutils "k8s.io/utils/net"
)

// FuzzAddresses: any annotations give addresses or an error, never a panic; every
// address is in canonical form; and any provided node IP that the node controller can
// parse (kubelet writes no other) passes its check against the addresses returned.
func FuzzAddresses(f *testing.F) {
	f.Add("192.0.2.11", "10.1.0.11,fd00::11", "198.51.100.11")
	f.Add("192.0.2.11,2001:db8::11", "", "bogus")
	f.Add("192.000.002.011", " , ", "::ffff:192.0.2.1")
	f.Fuzz(func(t *testing.T, provided, internalList, externalList string) {
		node := newNode("w1", annotated(providedNodeIP, provided), annotated(internalIPs, internalList), annotated(externalIPs, externalList))
		addrs, err := Addresses(node)
		if err != nil {
			return
		}
		for _, a := range addrs[:len(addrs)-1] { // the last is the Hostname
			if ip := netutils.ParseIPSloppy(a.Address); ip == nil || ip.String() != a.Address {
				t.Errorf("address %q is not in canonical form", a.Address)
			}
		}
		_, err = cloudnodeutil.GetNodeAddressesFromNodeIP(provided, addrs)
		if err != nil && !strings.Contains(err.Error(), "failed to parse node IP") {
			t.Errorf("the node controller refuses addresses %v for %s=%q: %v", addrs, providedNodeIP, provided, err)
		}
	})
}
