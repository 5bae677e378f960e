package keepalived

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVIPsInReadsRenderedFile(t *testing.T) {
	vips := []VIP{{Addr: netip.MustParseAddr("10.0.0.7"), Service: "a/b"}, {Addr: netip.MustParseAddr("10.0.0.8")}}
	many := make([]VIP, 6) // more than adverts carry: some in virtual_ipaddress_excluded
	for i := range many {
		many[i] = VIP{Addr: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})}
	}
	conf := Render(Spec{Node: "n", Interface: "eth0", AdvertInt: 1, Instances: []Instance{
		{Name: "a", RouterID: 1, Priority: 200, VIPs: vips[1:]}, {Name: "b", RouterID: 2, Priority: 199, VIPs: vips[:1]},
		{Name: "c", RouterID: 3, Priority: 199, VIPs: many},
	}})
	got := VIPsIn(conf)
	want := []netip.Addr{vips[1].Addr, vips[0].Addr}
	for _, v := range many {
		want = append(want, v.Addr)
	}
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
