package placement

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// VIP is one address to place.
type VIP struct {
	Addr    netip.Addr
	Service string // "<namespace>/<name>", or "" for an announce-only entry
	// Local is externalTrafficPolicy Local: only the Eligible nodes may hold it.
	Local    bool
	Eligible []string // nodes with a ready or serving endpoint, sorted (Local only)
}

// Input is what a plan is made from.
type Input struct {
	Node string
	// Rotation are the peers, sorted; empty when unknown. An excluded node keeps its
	// rank (it faults its instances instead), so that labelling one node moves no VIP
	// it does not hold and makes no peer reload.
	Rotation []string
	// Excluded are the nodes known to be labelled not to announce: a Local VIP whose
	// eligible nodes are all excluded is reported as not announced.
	Excluded []string
	// Shared instances carry Cluster VIPs, spread by address: virtual router IDs
	// RouterIDBase to RouterIDBase+Shared-1. Local instances carry groups of Local
	// VIPs with the same eligible nodes: the next Local IDs.
	Shared, Local, RouterIDBase int
	VIPs                        []VIP
}

// Instance is one VRRP instance this node runs.
type Instance struct {
	Name     string
	RouterID int
	Priority int
	// StartMaster: this node ranks first in a Local group. It runs the instance as
	// its owner (priority 255, state MASTER), which keepalived makes master at once
	// rather than after three advert intervals: a VIP following its endpoints to a
	// new set of nodes is live right after the reload.
	StartMaster bool
	Members     []string // the nodes running it; nil for a shared instance (every node)
	IPv6        bool     // its VIPs are IPv6 (VRRPv3); an IPv6 instance always has VIPs
	VIPs        []VIP    // sorted by address
}

// Reason says why no node announces a VIP.
type Reason string

const (
	NoReadyEndpoint Reason = "no-ready-endpoint"
	NodesExcluded   Reason = "nodes-excluded"
	InstanceCap     Reason = "instance-cap"
)

// Plan is where every VIP goes.
type Plan struct {
	// Instances are those this node runs: every shared IPv4 one, the shared IPv6
	// ones with VIPs, then the Local groups it belongs to, by router ID.
	Instances []Instance
	// InstanceFor names the instance of every VIP some node may announce.
	InstanceFor map[netip.Addr]string
	// Unannounced are the VIPs no node may announce.
	Unannounced map[netip.Addr]Reason
}

// Priorities: rank 0 gets topPriority, each further rank one less, down to
// floorPriority, so up to 100 nodes get distinct priorities; a node outside the
// members gets unrankedPriority, below all of them. The first node of a Local group
// is its owner instead.
const (
	ownerPriority    = 255
	topPriority      = 200
	floorPriority    = 101
	unrankedPriority = 100
)

// SharedName is the name of shared instance k; LocalName that of the Local group on
// router ID vrid. Names are what keepalived's notifications report.
func SharedName(k int) string   { return fmt.Sprintf("vip_%d", k) }
func LocalName(vrid int) string { return fmt.Sprintf("local_%d", vrid) }

// Shared6Name and Local6Name are the IPv6 twins (keepalived refuses mixed families).
func Shared6Name(k int) string   { return fmt.Sprintf("vip6_%d", k) }
func Local6Name(vrid int) string { return fmt.Sprintf("local6_%d", vrid) }

// sharedOf spreads by the address's last 32 bits: consecutive addresses, as the
// provider hands them out, go round-robin over the shared instances.
func sharedOf(a netip.Addr, n int) int {
	b := a.As16()
	return int(binary.BigEndian.Uint32(b[12:]) % uint32(n))
}

// Make places in.VIPs.
func Make(in Input) Plan {
	p := Plan{InstanceFor: map[netip.Addr]string{}, Unannounced: map[netip.Addr]Reason{}}
	shared := [2][]Instance{make([]Instance, in.Shared), make([]Instance, in.Shared)}
	for k := range in.Shared {
		prio, _ := rank(in.Node, in.Rotation, k)
		shared[v4][k] = Instance{Name: SharedName(k), RouterID: in.RouterIDBase + k, Priority: prio}
		shared[v6][k] = Instance{Name: Shared6Name(k), RouterID: in.RouterIDBase + k, Priority: prio, IPv6: true}
	}
	groups := map[string][]VIP{}
	sharedOfService := map[string]int{} // a dual-stack Service's IPv6 VIP goes where its IPv4 one is
	// IPv4 first (sorted puts it first), so that the IPv6 VIPs find their siblings.
	for _, v := range sorted(in.VIPs) {
		members := v.Eligible
		if len(in.Rotation) > 0 {
			members = intersect(v.Eligible, in.Rotation)
		}
		switch {
		case v.Local && len(members) == 0:
			p.Unannounced[v.Addr] = NoReadyEndpoint
		case v.Local && len(intersect(members, in.Excluded)) == len(members):
			p.Unannounced[v.Addr] = NodesExcluded
		case v.Local && !slices.Equal(members, in.Rotation):
			key := strings.Join(members, ",")
			groups[key] = append(groups[key], v)
		default: // Cluster, or Local with every announcing node eligible
			k, ok := sharedOfService[v.Service]
			if !ok || v.Service == "" || v.Addr.Is4() {
				k = sharedOf(v.Addr, in.Shared)
			}
			if v.Addr.Is4() && v.Service != "" {
				sharedOfService[v.Service] = k
			}
			f := familyOf(v.Addr)
			shared[f][k].VIPs = append(shared[f][k].VIPs, v)
			p.InstanceFor[v.Addr] = shared[f][k].Name
		}
	}
	p.Instances = append(shared[v4], withVIPs(shared[v6])...)
	p.Instances = append(p.Instances, p.placeGroups(in, groups)...)
	return p
}

// Address families, as indexes.
const (
	v4 = iota
	v6
)

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return v4
	}
	return v6
}

// withVIPs drops instances without VIPs: keepalived refuses an IPv6 instance without
// one (an IPv4 one only warns, and is kept so that its mastership is settled early).
func withVIPs(ins []Instance) []Instance {
	return slices.DeleteFunc(ins, func(in Instance) bool { return len(in.VIPs) == 0 })
}

// placeGroups gives each group of Local VIPs a slot among in.Local: its hash, or the
// next free one. Groups are taken in key order, so every node assigns the same slots,
// and a new group moves no other unless it takes a slot another would have probed.
// A group's IPv4 and IPv6 VIPs get one instance each, on the same router ID (IDs are
// per family) and with the same priorities, so that they fail over together.
func (p *Plan) placeGroups(in Input, groups map[string][]VIP) []Instance {
	keys := slices.Sorted(maps.Keys(groups))
	taken := make([]bool, in.Local)
	var mine []Instance
	for _, key := range keys {
		slot, ok := freeSlot(key, taken)
		if !ok {
			for _, v := range groups[key] {
				p.Unannounced[v.Addr] = InstanceCap
			}
			continue
		}
		taken[slot] = true
		vrid := in.RouterIDBase + in.Shared + slot
		members := strings.Split(key, ",")
		prio, first := rank(in.Node, members, slot)
		if first {
			prio = ownerPriority
		}
		byFamily := [2]Instance{
			{Name: LocalName(vrid), RouterID: vrid, Members: members, Priority: prio, StartMaster: first},
			{Name: Local6Name(vrid), RouterID: vrid, Members: members, Priority: prio, StartMaster: first, IPv6: true},
		}
		for _, v := range groups[key] {
			f := familyOf(v.Addr)
			byFamily[f].VIPs = append(byFamily[f].VIPs, v)
			p.InstanceFor[v.Addr] = byFamily[f].Name
		}
		if slices.Contains(members, in.Node) {
			mine = append(mine, withVIPs(byFamily[:])...)
		}
	}
	slices.SortFunc(mine, func(a, b Instance) int { return a.RouterID - b.RouterID })
	return mine
}

func freeSlot(key string, taken []bool) (int, bool) {
	if len(taken) == 0 {
		return 0, false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	start := int(h.Sum32() % uint32(len(taken)))
	for i := range taken {
		if s := (start + i) % len(taken); !taken[s] {
			return s, true
		}
	}
	return 0, false
}

// rank is node's priority in an instance run by members (sorted) whose preferred
// master is members[offset mod len]: the list is rotated by offset so that instances
// lead on different nodes.
func rank(node string, members []string, offset int) (priority int, first bool) {
	i := slices.Index(members, node)
	if i < 0 {
		return unrankedPriority, false
	}
	n := len(members)
	r := ((i-offset)%n + n) % n
	return max(topPriority-r, floorPriority), r == 0
}

func sorted(vips []VIP) []VIP {
	out := slices.Clone(vips)
	slices.SortFunc(out, func(a, b VIP) int { return a.Addr.Compare(b.Addr) })
	return out
}

// intersect keeps the names of a (sorted) that are in b (sorted).
func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); ok {
			out = append(out, s)
		}
	}
	return out
}
