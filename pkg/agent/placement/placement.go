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
	// Instances are those this node runs: every shared one, then the Local groups it
	// belongs to, by router ID.
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
func sharedOf(a netip.Addr, n int) int {
	b := a.As4()
	return int(binary.BigEndian.Uint32(b[:]) % uint32(n))
}

// Make places in.VIPs.
func Make(in Input) Plan {
	p := Plan{InstanceFor: map[netip.Addr]string{}, Unannounced: map[netip.Addr]Reason{}}
	shared := make([]Instance, in.Shared)
	for k := range shared {
		shared[k] = Instance{Name: SharedName(k), RouterID: in.RouterIDBase + k}
		shared[k].Priority, _ = rank(in.Node, in.Rotation, k)
	}
	groups := map[string][]VIP{}
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
			k := sharedOf(v.Addr, in.Shared)
			shared[k].VIPs = append(shared[k].VIPs, v)
			p.InstanceFor[v.Addr] = shared[k].Name
		}
	}
	p.Instances = append(shared, p.placeGroups(in, groups)...)
	return p
}

// placeGroups gives each group of Local VIPs a slot among in.Local: its hash, or the
// next free one. Groups are taken in key order, so every node assigns the same slots,
// and a new group moves no other unless it takes a slot another would have probed.
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
		for _, v := range groups[key] {
			p.InstanceFor[v.Addr] = LocalName(vrid)
		}
		members := strings.Split(key, ",")
		if !slices.Contains(members, in.Node) {
			continue
		}
		inst := Instance{Name: LocalName(vrid), RouterID: vrid, Members: members, VIPs: groups[key]}
		inst.Priority, inst.StartMaster = rank(in.Node, members, slot)
		if inst.StartMaster {
			inst.Priority = ownerPriority
		}
		mine = append(mine, inst)
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
