package vipconfig

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkRender is the provider's own CPU per ConfigMap write: rendering a view of
// n entries onto the ConfigMap it replaces (one entry changed).
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			view := View{Entries: map[netip.Addr]Entry{}, Usage: "default: 1 of 2 in use"}
			for i := 0; i < n; i++ {
				view.Entries[netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})] = Entry{Service: fmt.Sprintf("team/svc-%d", i), Method: NAT}
			}
			base := Render(nil, "kube-system", "vip-configmap", view).Object
			view.Entries[netip.MustParseAddr("10.9.9.9")] = Entry{Service: "team/new", Method: DR}
			b.ReportAllocs()
			for b.Loop() {
				Render(base, "kube-system", "vip-configmap", view)
			}
		})
	}
}
