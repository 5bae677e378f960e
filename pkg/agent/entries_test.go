package agent

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

func TestIPv6EntriesDecodeTheirKeys(t *testing.T) {
	vips, problems := entries(configMap(map[string]string{
		"2001-db8--1": "default/web", "fd00--5": "", "fe80--1": "", "10.0.0.5": "default/a", "2001-0db8--2": "",
	}), vipconfig.IPv6)
	var got []string
	for _, v := range vips {
		got = append(got, v.Addr.String()+"="+v.Service)
	}
	if diff := cmp.Diff([]string{"2001:db8::1=default/web", "fd00::5="}, got); diff != "" {
		t.Errorf("vips (-want +got):\n%s", diff)
	}
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
	}
	// link-local is special, an IPv4 key is not of this ConfigMap, a non-canonical key is not ours.
	if diff := cmp.Diff([]string{"10.0.0.5", "2001-0db8--2", "fe80--1"}, keys); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestEntriesReportsBadOnesAndKeepsTheRest(t *testing.T) {
	vips, problems := entries(configMap(map[string]string{
		"10.0.0.5": "default/a:DR", "10.0.0.6": "", "bad": "default/b", "10.0.0.7": "default",
	}), vipconfig.IPv4)
	var got []string
	for _, v := range vips {
		got = append(got, v.Addr.String()+"="+v.Service)
	}
	if diff := cmp.Diff([]string{"10.0.0.5=default/a", "10.0.0.6="}, got); diff != "" {
		t.Errorf("vips (-want +got):\n%s", diff)
	}
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
	}
	if diff := cmp.Diff([]string{"10.0.0.7", "bad"}, keys); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if vips, problems := entries(nil, vipconfig.IPv4); vips != nil || problems != nil {
		t.Errorf("missing ConfigMap: %v %v", vips, problems)
	}
}

func TestEntriesRefuseSpecialAddresses(t *testing.T) {
	tests := []struct {
		name, key string
	}{
		{"this network", "0.0.0.0"},
		{"this network, not only 0.0.0.0", "0.1.2.3"},
		{"loopback", "127.0.0.1"},
		{"loopback, anywhere in 127/8", "127.255.0.9"},
		{"link-local", "169.254.10.1"},
		{"multicast: VRRP's own group", "224.0.0.18"},
		{"multicast, top of 224/4", "239.255.255.255"},
		{"reserved", "240.0.0.1"},
		{"broadcast", "255.255.255.255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vips, problems := entries(configMap(map[string]string{tt.key: "", "10.0.0.5": "default/a"}), vipconfig.IPv4)
			if len(vips) != 1 || vips[0].Addr.String() != "10.0.0.5" {
				t.Errorf("vips = %v, want only 10.0.0.5", vips)
			}
			want := ipam.CheckSpecial(netip.MustParseAddr(tt.key))
			if want == nil {
				t.Fatalf("ipam.CheckSpecial(%s) = nil: the test expects a special address", tt.key)
			}
			if len(problems) != 1 || problems[0].Key != tt.key || problems[0].Reason != want.Error() {
				t.Errorf("problems = %v, want %s refused with %q", problems, tt.key, want)
			}
		})
	}
}
