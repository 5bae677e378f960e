package keepalived

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPriorityRotates(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	tests := []struct {
		name string
		node string
		want []int // priority for instances 0..3
	}{
		{"first node leads instance 0 and 3", "a", []int{200, 198, 199, 200}},
		{"second node leads instance 1", "b", []int{199, 200, 198, 199}},
		{"third node leads instance 2", "c", []int{198, 199, 200, 198}},
		{"a node outside the list is below all", "z", []int{100, 100, 100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for k := range 4 {
				got = append(got, priority(tt.node, nodes, k))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("priorities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInstanceOfSpreadsConsecutiveAddresses(t *testing.T) {
	var got []int
	for _, a := range []string{"10.0.0.64", "10.0.0.65", "10.0.0.66", "10.0.0.67"} {
		got = append(got, InstanceOf(netip.MustParseAddr(a), 4))
	}
	if diff := cmp.Diff([]int{0, 1, 2, 3}, got); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
}

func TestVIPsInReadsRenderedFile(t *testing.T) {
	vips := []VIP{{Addr: netip.MustParseAddr("10.0.0.7"), Service: "a/b"}, {Addr: netip.MustParseAddr("10.0.0.8")}}
	conf := Render(Spec{Node: "n", Interface: "eth0", Instances: 2, RouterIDBase: 1, AdvertInt: 1, VIPs: vips})
	got := VIPsIn(conf)
	want := []netip.Addr{vips[1].Addr, vips[0].Addr} // instance 0 holds .8, instance 1 holds .7
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("VIPsIn (-want +got):\n%s", diff)
	}
}

func TestParseNotification(t *testing.T) {
	tests := []struct {
		line string
		want Notification
		ok   bool
	}{
		{`INSTANCE "vip_0" MASTER 200`, Notification{"vip_0", "MASTER", 200}, true},
		{`INSTANCE "vip_3" BACKUP 99`, Notification{"vip_3", "BACKUP", 99}, true},
		{`GROUP "g" MASTER`, Notification{}, false},
		{``, Notification{}, false},
	}
	for _, tt := range tests {
		got, ok := parseNotification(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseNotification(%q) = %+v, %t; want %+v, %t", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
