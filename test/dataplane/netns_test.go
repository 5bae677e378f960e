package dataplane

// The namespaces, the sockets made inside them and the API forwarders are test/netns
// (shared with the demo); these wrappers fail the test instead of returning errors and
// tie what they make to t.Cleanup.

import (
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

const (
	// subnet is the bridge's /24: nodes .11 up, the client .2.
	subnet = "10.99.0"
	// subnet6 is the bridge's IPv6 /64: nodes ::b up, the client ::2.
	subnet6 = "fd99::"
)

// newTopology builds the namespaces and links; t.Cleanup removes them with any process
// still inside (keepalived started by our agents).
func newTopology(t *testing.T, nodeNames ...string) *netns.Topology {
	t.Helper()
	prefix := fmt.Sprintf("kcp%d", os.Getpid()%100000)
	tp, err := netns.NewDualStack(prefix, netip.MustParsePrefix(subnet+".0/24"), netip.MustParsePrefix(subnet6+"/64"), nodeNames...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.Remove)
	return tp
}

// addOther attaches one more namespace (name ns, bridge port port) that is not a node;
// tp's cleanup removes it with the rest.
func addOther(t *testing.T, tp *netns.Topology, ns, port string, addr netip.Addr) {
	t.Helper()
	if err := tp.AddOther(ns, port, addr); err != nil {
		t.Fatal(err)
	}
}

// forwardIntoNetns relays 127.0.0.1:port inside ns to the host's 127.0.0.1:port until
// t ends.
func forwardIntoNetns(t *testing.T, ns string, port int) {
	t.Helper()
	f, err := netns.Forward(ns, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
}

func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if _, err := netns.IP(args...); err != nil {
		t.Fatal(err)
	}
}
