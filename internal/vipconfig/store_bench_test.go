package vipconfig

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkParseApply measures the provider's own work per published change against a
// ConfigMap that already holds n entries of ours: read the table, copy the object,
// apply the change. The API round trip comes on top.
func BenchmarkParseApply(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			cm := configMap(map[string]string{}, nil)
			t, _ := Parse(cm)
			initial := Change{Set: map[netip.Addr]Entry{}}
			for i := range n {
				initial.Set[addrAt(i)] = Entry{Service: fmt.Sprintf("ns/svc-%d", i), Method: NAT}
			}
			if err := t.apply(cm, initial); err != nil {
				b.Fatal(err)
			}
			change := Change{Set: map[netip.Addr]Entry{addrAt(n): {Service: "ns/extra", Method: DR}}}
			b.ReportAllocs()
			for b.Loop() {
				t, _ := Parse(cm)
				if err := t.apply(cm.DeepCopy(), change); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// addrAt is the i-th address after 10.0.0.0.
func addrAt(i int) netip.Addr {
	v := uint32(10)<<24 + uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
