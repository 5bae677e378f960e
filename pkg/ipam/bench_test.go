package ipam

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
)

type benchCase struct {
	name   string
	spec   string
	avoid  bool
	held   int    // addresses taken before timing
	stride uint32 // 1: contiguous from the first address; 2: every other one
}

var benchCases = []benchCase{
	{"/24/empty", "10.0.0.0/24", false, 0, 1},
	{"/24/full-but-one", "10.0.0.0/24", false, 253, 1},
	{"/24/alternating", "10.0.0.0/24", false, 127, 2},
	{"/16/empty", "10.0.0.0/16", false, 0, 1},
	{"/16/full-but-one", "10.0.0.0/16", false, 65533, 1},
	{"/16/alternating", "10.0.0.0/16", false, 32767, 2},
	{"/8/empty", "10.0.0.0/8", false, 0, 1},
	{"/8/100k-contiguous", "10.0.0.0/8", false, 100_000, 1},
	{"/8/100k-alternating", "10.0.0.0/8", false, 100_000, 2},
	{"/8/100k-alternating-avoid-buggy", "10.0.0.0/8", true, 100_000, 2},
}

// BenchmarkAllocateFree times handing out the lowest free address and giving
// it back: the worst cases are many taken before it (contiguous) and one run
// per taken address (alternating, where each cycle merges two runs and splits
// them again). The figures must not grow with the pool: /24, /16 and /8 alike.
func BenchmarkAllocateFree(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			a := takenPool(b, bc.spec, bc.avoid, bc.held, bc.stride)
			b.ReportAllocs()
			for b.Loop() {
				got, err := a.Allocate("p")
				if err != nil {
					b.Fatal(err)
				}
				a.Free(got)
			}
		})
	}
}

// BenchmarkTakeFree fills and frees gaps at random places among 100,000
// alternating taken addresses, so runs merge and split deep in the tree
// rather than only at its lowest end.
func BenchmarkTakeFree(b *testing.B) {
	a := takenPool(b, "10.0.0.0/8", false, 100_000, 2)
	rnd := rand.New(rand.NewPCG(1, 2))
	gaps := make([]netip.Addr, 4096)
	for i := range gaps {
		gaps[i] = addr(u32(ip("10.0.0.2")) + 2*rnd.Uint32N(100_000))
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

// BenchmarkRebuild times taking 100,000 addresses in a /8 one by one, as a
// restart does from what is already published, and reports the heap kept per
// taken address.
func BenchmarkRebuild(b *testing.B) {
	for _, bc := range benchCases[7:9] {
		b.Run(bc.name, func(b *testing.B) {
			build := func() *Allocator { return takenPool(b, bc.spec, bc.avoid, bc.held, bc.stride) }
			kept := retained(build)
			b.ReportAllocs()
			for b.Loop() {
				build()
			}
			b.ReportMetric(kept/float64(bc.held), "B/addr")
		})
	}
}

// retained is the heap still in use after build, once garbage is collected.
func retained(build func() *Allocator) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(a)
	return float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
}

// BenchmarkRepool times building new pools over 100,000 taken addresses in
// a /8, as a live reload does: the cost follows the taken addresses (and the
// runs they form), never the 16 million addresses of the pools. The taken
// addresses come shuffled, as a caller's map gives them.
func BenchmarkRepool(b *testing.B) {
	pools := []Pool{
		namedPool(b, "p", "10.0.0.0/9"),
		namedPool(b, "q", "10.128.0.0/9"),
		namedPool(b, "r", "172.16.0.0/12"),
	}
	for _, bc := range benchCases[7:9] {
		b.Run(bc.name, func(b *testing.B) {
			taken := strided(u32(ip("10.0.0.1")), bc.held, bc.stride)
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Repool(taken, pools...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
