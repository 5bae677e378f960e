package keepalived

import (
	"net/netip"
)

// VIP is one address to announce.
type VIP struct {
	Addr netip.Addr
	// Service is "<namespace>/<name>", or "" for an announce-only entry; it only
	// appears as a comment, for people reading the file.
	Service string
}

// Instance is one vrrp_instance block.
type Instance struct {
	Name     string
	RouterID int
	Priority int
	// StartMaster renders "state MASTER"; with priority 255 (the owner) keepalived is
	// then master at once instead of after three advert intervals.
	StartMaster bool
	// FaultWhenUnhealthy puts the instance in FAULT, rather than below the healthy
	// nodes, while the service proxy is unhealthy: for a group of nodes that alone may
	// forward a Service's traffic (and keepalived allows no weight with priority 255).
	FaultWhenUnhealthy bool
	// IPv6: its VIPs are IPv6 (VRRPv3, native_ipv6; keepalived refuses mixed
	// families and an IPv6 instance without VIPs).
	IPv6 bool
	// UnicastPeers, when set, replace the Spec's peers of the instance's family (a
	// group of nodes smaller than all peers).
	UnicastPeers []netip.Addr
	VIPs         []VIP // sorted
}

// Spec is everything keepalived.conf is rendered from.
type Spec struct {
	// Node is this node's name: keepalived's router_id.
	Node      string
	Interface string
	AdvertInt int
	// Unicast sends adverts to the peers (from UnicastSrc, when valid) instead of
	// multicast.
	Unicast      bool
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr
	// UnicastSrc6 and UnicastPeers6 are the same for the IPv6 instances.
	UnicastSrc6   netip.Addr
	UnicastPeers6 []netip.Addr
	// HealthFile, when set, is a keepalived track_file holding 0 (healthy) or 1; a 1
	// lowers every instance's priority by healthWeight so that healthy nodes win.
	HealthFile string
	// ExcludedFile, when set, is a track_file of weight 0: a 1 in it puts every
	// instance in FAULT, so the node holds no VIP (and says so to its peers) without
	// a reload.
	ExcludedFile string
	// NotifyFIFO receives keepalived's instance state changes.
	NotifyFIFO string
	Instances  []Instance
}

// healthWeight is subtracted from an unhealthy node's priority: below any healthy one
// (shared instances' priorities are 101-200, see pkg/agent/placement).
const healthWeight = 100

// advertisedVIPs is how many of an instance's VIPs its adverts carry; the rest are
// virtual_ipaddress_excluded, as keepalived documents for large counts. An advert
// holds at most 255 addresses and the MTU fewer; the addresses in it are only checked
// against the peers' configuration, which is the same everywhere.
const advertisedVIPs = 4
