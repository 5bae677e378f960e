package keepalived

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// VIP is one address to announce.
type VIP struct {
	Addr netip.Addr
	// Service is "<namespace>/<name>", or "" for an announce-only entry; it only
	// appears as a comment, for people reading the file.
	Service string
}

// Spec is everything keepalived.conf is rendered from.
type Spec struct {
	// Node is this node's name: keepalived's router_id and its place in Nodes.
	Node      string
	Interface string
	// Instances is how many VRRP instances share the VIPs; instance k uses virtual
	// router ID RouterIDBase+k.
	Instances    int
	RouterIDBase int
	AdvertInt    int
	// Nodes are the eligible node names, sorted; priorities rotate over them so that
	// each node is master for some instances. A node not listed gets BasePriority-100.
	Nodes []string
	// Unicast sends adverts to UnicastPeers (from UnicastSrc, when valid) instead of
	// multicast.
	Unicast      bool
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr
	// HealthFile, when set, is a keepalived track_file holding 0 (healthy) or 1; a 1
	// lowers every instance's priority by healthWeight so that healthy nodes win.
	HealthFile string
	// NotifyFIFO receives keepalived's instance state changes.
	NotifyFIFO string
	VIPs       []VIP
}

const (
	// topPriority is rank 0's priority; each further rank is one lower, down to
	// floorPriority, so up to 100 nodes get distinct priorities.
	topPriority   = 200
	floorPriority = 101
	// unrankedPriority is for a node missing from Nodes: below every ranked node.
	unrankedPriority = 100
	// healthWeight is subtracted from an unhealthy node's priority: below any healthy one.
	healthWeight = 100
)

// InstanceOf is the VRRP instance index of addr. It depends on the address alone, so a
// VIP never moves between instances when others come and go, and consecutive addresses
// (the provider hands out the lowest free one) spread round-robin over the instances.
func InstanceOf(addr netip.Addr, instances int) int {
	a := addr.As4()
	return int(binary.BigEndian.Uint32(a[:]) % uint32(instances))
}

// priority is node's VRRP priority for instance k: nodes are ranked by rotating the
// sorted list by k, so instance k's preferred master is nodes[k mod len(nodes)].
func priority(node string, nodes []string, k int) int {
	i := slices.Index(nodes, node)
	if i < 0 {
		return unrankedPriority
	}
	n := len(nodes)
	rank := ((i-k)%n + n) % n
	return max(topPriority-rank, floorPriority)
}
