package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

var bench6Cases = []struct {
	name   string
	spec   string
	held   int    // addresses taken before timing, from the pool's first
	stride uint64 // 1: contiguous; 2: every other one
}{
	{"/120/empty", "fd00::/120", 0, 1},
	{"/120/full-but-one", "fd00::/120", 254, 1},
	{"/120/alternating", "fd00::/120", 127, 2},
	{"/64/empty", "fd00::/64", 0, 1},
	{"/64/100k-contiguous", "fd00::/64", 100_000, 1},
	{"/64/100k-alternating", "fd00::/64", 100_000, 2},
	{"/32/100k-alternating", "fd00::/32", 100_000, 2},
	{"/16/empty", "fd00::/16", 0, 1},
	{"/16/100k-contiguous", "fd00::/16", 100_000, 1},
	{"/16/100k-alternating", "fd00::/16", 100_000, 2},
}

// taken6 makes a DualStack allocator over one pool "p" with n addresses
// taken, one every stride addresses from the pool's first.
func taken6(t testing.TB, spec string, n int, stride uint64) *Allocator {
	t.Helper()
	a := newDual(t, dualPool(t, "p", spec))
	for _, x := range strided6(u128Of(a.pools[0].Ranges[0].First), n, stride) {
		if err := a.Take(x); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func strided6(first u128, n int, stride uint64) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = first.add(u128{0, uint64(i) * stride}).addr6()
	}
	return out
}

// BenchmarkAllocateFree6 is BenchmarkAllocateFree for IPv6: the figures must
// not grow with the pool, /120, /64, /32 and /16 alike.
func BenchmarkAllocateFree6(b *testing.B) {
	for _, bc := range bench6Cases {
		b.Run(bc.name, func(b *testing.B) {
			a := taken6(b, bc.spec, bc.held, bc.stride)
			b.ReportAllocs()
			for b.Loop() {
				got, err := a.AllocateFamily("p", IPv6)
				if err != nil {
					b.Fatal(err)
				}
				a.Free(got)
			}
		})
	}
}

// BenchmarkTakeFree6 is BenchmarkTakeFree in a /16 IPv6 pool.
func BenchmarkTakeFree6(b *testing.B) {
	a := taken6(b, "fd00::/16", 100_000, 2)
	first := u128Of(ip("fd00::2"))
	rnd := rand.New(rand.NewPCG(1, 2))
	gaps := make([]netip.Addr, 4096)
	for i := range gaps {
		gaps[i] = first.add(u128{0, 2 * rnd.Uint64N(100_000)}).addr6()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		gap := gaps[i%len(gaps)]
		i++
		if err := a.Take(gap); err != nil {
			b.Fatal(err)
		}
		a.Free(gap)
	}
}

// BenchmarkRepool6 times a live reload over 100,000 taken IPv6 addresses,
// shuffled, in pools of both families: the cost follows the taken addresses,
// whether the pools are /64s or /16s.
func BenchmarkRepool6(b *testing.B) {
	for _, size := range []struct{ name, p, q string }{
		{"/64", "fd00::/64", "fd01::/64"},
		{"/16", "fd00::/16", "fd01::/16"},
	} {
		pools := []Pool{dualPool(b, "p", size.p+", 10.0.0.0/9"), dualPool(b, "q", size.q), dualPool(b, "r", "172.16.0.0/12")}
		for _, stride := range []uint64{1, 2} {
			name := size.name + "/100k-contiguous"
			if stride == 2 {
				name = size.name + "/100k-alternating"
			}
			b.Run(name, func(b *testing.B) {
				taken := strided6(u128Of(ip("fd00::1")), 100_000, stride)
				rand.New(rand.NewPCG(3, 4)).Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
				b.ReportAllocs()
				for b.Loop() {
					if _, err := DualStack.Repool(taken, pools...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAllocateFreeIPv4InDualStack is the IPv4 cycle of a DualStack
// allocator whose pool also has an IPv6 range: IPv4 costs what it costs in an
// IPv4Only one.
func BenchmarkAllocateFreeIPv4InDualStack(b *testing.B) {
	a := newDual(b, dualPool(b, "p", "10.0.0.0/8, fd00::/16"))
	for _, x := range strided(u32(ip("10.0.0.1")), 100_000, 2) {
		if err := a.Take(x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := a.Allocate("p")
		if err != nil {
			b.Fatal(err)
		}
		a.Free(got)
	}
}
