package placement

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRankRotates(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	tests := []struct {
		name string
		node string
		want []int // priority for offsets 0..3
	}{
		{"first node leads offsets 0 and 3", "a", []int{200, 198, 199, 200}},
		{"second node leads offset 1", "b", []int{199, 200, 198, 199}},
		{"third node leads offset 2", "c", []int{198, 199, 200, 198}},
		{"a node outside the list is below all", "z", []int{100, 100, 100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for k := range 4 {
				p, first := rank(tt.node, nodes, k)
				if first != (p == topPriority) {
					t.Errorf("offset %d: first = %v with priority %d", k, first, p)
				}
				got = append(got, p)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("priorities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSharedSpreadsConsecutiveAddresses(t *testing.T) {
	var got []int
	for _, a := range []string{"10.0.0.64", "10.0.0.65", "10.0.0.66", "10.0.0.67"} {
		got = append(got, sharedOf(netip.MustParseAddr(a), 4))
	}
	if diff := cmp.Diff([]int{0, 1, 2, 3}, got); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
}

func vip(addr string, eligible ...string) VIP {
	return VIP{Addr: netip.MustParseAddr(addr), Service: "ns/" + addr, Local: eligible != nil, Eligible: eligible}
}

// of gives v the Service of a dual-stack sibling.
func of(service string, v VIP) VIP {
	v.Service = service
	return v
}

// summary is a plan as names: instance (a group by its members) -> VIPs, plus
// unannounced by reason.
func summary(p Plan) map[string][]string {
	out := map[string][]string{}
	for _, in := range p.Instances {
		name := in.Name
		if in.Members != nil {
			name = "local:" + strings.Join(in.Members, ",")
			if in.IPv6 {
				name = "local6:" + strings.Join(in.Members, ",")
			}
		}
		out[name] = []string{}
		for _, v := range in.VIPs {
			out[name] = append(out[name], v.Addr.String())
		}
	}
	for a, why := range p.Unannounced {
		out[string(why)] = append(out[string(why)], a.String())
	}
	return out
}

func TestMake(t *testing.T) {
	rotation := []string{"a", "b", "c"}
	tests := []struct {
		name     string
		node     string
		local    int
		excluded []string
		vips     []VIP
		want     map[string][]string
	}{
		{name: "cluster VIPs spread by address", node: "a", local: 2,
			vips: []VIP{vip("10.0.0.2"), vip("10.0.0.3")},
			want: map[string][]string{"vip_0": {"10.0.0.2"}, "vip_1": {"10.0.0.3"}}},
		{name: "a Local VIP runs only on its eligible nodes", node: "a", local: 2,
			vips: []VIP{vip("10.0.0.2", "a"), vip("10.0.0.3", "b")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "local:a": {"10.0.0.2"}}},
		{name: "the same node set shares one instance", node: "b", local: 2,
			vips: []VIP{vip("10.0.0.2", "a", "b"), vip("10.0.0.3", "a", "b")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "local:a,b": {"10.0.0.2", "10.0.0.3"}}},
		{name: "every node eligible is a shared VIP", node: "c", local: 2,
			vips: []VIP{vip("10.0.0.3", "a", "b", "c")},
			want: map[string][]string{"vip_0": {}, "vip_1": {"10.0.0.3"}}},
		{name: "eligible nodes outside the rotation do not count", node: "a", local: 2,
			vips: []VIP{vip("10.0.0.2", "x"), vip("10.0.0.4", "a", "x")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "local:a": {"10.0.0.4"}, "no-ready-endpoint": {"10.0.0.2"}}},
		{name: "a Local VIP whose eligible nodes are all excluded", node: "a", local: 2, excluded: []string{"b", "c"},
			vips: []VIP{vip("10.0.0.2", "b", "c"), vip("10.0.0.3", "a", "b")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "local:a,b": {"10.0.0.3"}, "nodes-excluded": {"10.0.0.2"}}},
		{name: "a dual-stack Service's IPv6 VIP shares its IPv4 VIP's instance index", node: "a", local: 2,
			vips: []VIP{of("ns/web", vip("10.0.0.3")), of("ns/web", vip("fd00::2")), vip("fd00::4")},
			want: map[string][]string{"vip_0": {}, "vip_1": {"10.0.0.3"}, "vip6_0": {"fd00::4"}, "vip6_1": {"fd00::2"}}},
		{name: "IPv6 shared instances without VIPs are not run", node: "a", local: 2,
			vips: []VIP{vip("fd00::3")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "vip6_1": {"fd00::3"}}},
		{name: "a Local group gets an instance per family", node: "a", local: 2,
			vips: []VIP{of("ns/web", vip("10.0.0.2", "a")), of("ns/web", vip("fd00::2", "a")), vip("fd00::9", "a", "b")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "local:a": {"10.0.0.2"}, "local6:a": {"fd00::2"}, "local6:a,b": {"fd00::9"}}},
		{name: "no instance left: past the cap", node: "a", local: 1,
			vips: []VIP{vip("10.0.0.2", "a"), vip("10.0.0.3", "a", "b")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "local:a": {"10.0.0.2"}, "instance-cap": {"10.0.0.3"}}},
		{name: "no Local instances at all", node: "a", local: 0,
			vips: []VIP{vip("10.0.0.2", "a")},
			want: map[string][]string{"vip_0": {}, "vip_1": {}, "instance-cap": {"10.0.0.2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Make(Input{Node: tt.node, Rotation: rotation, Excluded: tt.excluded, Shared: 2, Local: tt.local, RouterIDBase: 50, VIPs: tt.vips})
			if diff := cmp.Diff(tt.want, summary(p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			for _, v := range tt.vips {
				_, out := p.Unannounced[v.Addr]
				if _, in := p.InstanceFor[v.Addr]; in == out {
					t.Errorf("%s: in InstanceFor %v, unannounced %v; want exactly one", v.Addr, in, out)
				}
			}
		})
	}
}

// Every member of a group computes the same router ID and distinct priorities, and
// exactly one starts as master, as its owner (255); shared instances have no owner.
func TestGroupAgreesAcrossNodes(t *testing.T) {
	rotation := []string{"a", "b", "c", "d"}
	vips := []VIP{vip("10.0.0.2", "a", "b", "c"), vip("10.0.0.3", "b", "d"), vip("10.0.0.4", "a", "b", "c")}
	ids := map[string]map[int]bool{} // VIP -> router IDs seen
	priorities := map[int][]int{}    // router ID -> priorities
	starters := map[int]int{}
	for _, node := range rotation {
		p := Make(Input{Node: node, Rotation: rotation, Shared: 1, Local: 8, RouterIDBase: 10, VIPs: vips})
		if p.Instances[0].StartMaster || p.Instances[0].Priority > topPriority {
			t.Errorf("%s: shared instance %+v has an owner", node, p.Instances[0])
		}
		for _, in := range p.Instances[1:] {
			if in.StartMaster != (in.Priority == ownerPriority) {
				t.Errorf("%s: %s starts as master %v with priority %d", node, in.Name, in.StartMaster, in.Priority)
			}
			priorities[in.RouterID] = append(priorities[in.RouterID], in.Priority)
			if in.StartMaster {
				starters[in.RouterID]++
			}
			for _, v := range in.VIPs {
				if ids[v.Addr.String()] == nil {
					ids[v.Addr.String()] = map[int]bool{}
				}
				ids[v.Addr.String()][in.RouterID] = true
			}
		}
	}
	for addr, set := range ids {
		if len(set) != 1 {
			t.Errorf("%s on router IDs %v; want one", addr, set)
		}
	}
	for id, ps := range priorities {
		seen := map[int]bool{}
		for _, p := range ps {
			if seen[p] {
				t.Errorf("router ID %d: priorities %v repeat", id, ps)
			}
			seen[p] = true
		}
		if starters[id] != 1 {
			t.Errorf("router ID %d: %d nodes start as master; want 1", id, starters[id])
		}
	}
	if len(priorities) != 2 {
		t.Errorf("got %d Local instances; want 2 (two distinct node sets)", len(priorities))
	}
}
