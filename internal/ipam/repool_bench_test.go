package ipam

import "testing"

// BenchmarkRepool times carrying 100,000 held addresses in a /8 over to new
// pools, as a live reload does: the cost follows the held addresses (and the
// runs they form), never the 16 million addresses of the pools.
func BenchmarkRepool(b *testing.B) {
	pools := []Pool{
		namedPool(b, "p", "10.0.0.0/9"),
		namedPool(b, "q", "10.128.0.0/9"),
		namedPool(b, "r", "172.16.0.0/12"),
	}
	for _, bc := range benchCases[7:9] {
		b.Run(bc.name, func(b *testing.B) {
			a := heldPool(b, bc.spec, bc.avoid, bc.held, bc.stride)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := a.Repool(pools...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
