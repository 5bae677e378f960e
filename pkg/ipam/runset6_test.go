package ipam

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

// checkRuns6 fails unless s is a valid treap of sorted, maximal, disjoint runs
// holding exactly want.
func checkRuns6(t *testing.T, s *runSet6, want map[u128]bool) {
	t.Helper()
	var prev *run6
	count := 0
	var walk func(r *run6)
	walk = func(r *run6) {
		if r == nil {
			return
		}
		for _, c := range []*run6{r.left, r.right} {
			if c != nil && c.prio > r.prio {
				t.Fatalf("heap order broken at run %v-%v", r.start, r.end)
			}
		}
		walk(r.left)
		if r.end.less(r.start) {
			t.Fatalf("run %v-%v is backwards", r.start, r.end)
		}
		if prev != nil && (prev.end == maxU128 || !prev.end.inc().less(r.start)) {
			t.Fatalf("runs %v-%v and %v-%v touch or overlap", prev.start, prev.end, r.start, r.end)
		}
		for x := r.start; ; x = x.inc() {
			if !want[x] {
				t.Fatalf("run %v-%v holds %v", r.start, r.end, x)
			}
			count++
			if x == r.end {
				break
			}
		}
		prev = r
		walk(r.right)
	}
	walk(s.root)
	if count != len(want) {
		t.Fatalf("runs hold %d numbers, want %d", count, len(want))
	}
}

func TestRunSet6MatchesModel(t *testing.T) {
	bases := map[string]u128{
		"bottom":          {},
		"64-bit boundary": {0, ^uint64(0) - 20},
		"middle":          {1 << 63, 0},
		"top":             maxU128.sub(u128{0, 40}),
	}
	for name, base := range bases {
		t.Run(name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(2, base.lo))
			var s runSet6
			model := map[u128]bool{}
			pick := func() u128 { return base.add(u128{0, rnd.Uint64N(41)}) }
			for range 5000 {
				x := pick()
				if model[x] {
					if !s.has(x) {
						t.Fatalf("has(%v) = false", x)
					}
					s.remove(x)
					delete(model, x)
				} else {
					if s.has(x) {
						t.Fatalf("has(%v) = true", x)
					}
					s.add(x)
					model[x] = true
				}
				checkRuns6(t, &s, model)
				from := pick()
				want, wantOK := from, true
				for model[want] {
					if want == maxU128 {
						wantOK = false
						break
					}
					want = want.inc()
				}
				if got, ok := s.nextFree(from); ok != wantOK || ok && got != want {
					t.Fatalf("nextFree(%v) = %v, %v; want %v, %v", from, got, ok, want, wantOK)
				}
			}
		})
	}
}

// TestU128 checks the 128-bit maths against math/big at the edges where
// carries cross the halves.
func TestU128(t *testing.T) {
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	mod := func(n *big.Int) *big.Int { return n.Mod(n, two128) }
	edges := []u128{{}, {0, 1}, {0, ^uint64(0)}, {1, 0}, {1, 1}, {^uint64(0), ^uint64(0) - 1}, maxU128, {1 << 63, 0}, {0x0123, 0x4567}}
	for _, x := range edges {
		for _, y := range edges {
			if got, want := x.add(y).big(), mod(new(big.Int).Add(x.big(), y.big())); got.Cmp(want) != 0 {
				t.Errorf("%v + %v = %v, want %v", x, y, got, want)
			}
			if got, want := x.sub(y).big(), mod(new(big.Int).Sub(x.big(), y.big())); got.Cmp(want) != 0 {
				t.Errorf("%v - %v = %v, want %v", x, y, got, want)
			}
			if got, want := x.cmp(y), x.big().Cmp(y.big()); got != want {
				t.Errorf("cmp(%v, %v) = %d, want %d", x, y, got, want)
			}
		}
		if got := u128Of(x.addr6()); got != x {
			t.Errorf("u128Of(addr6(%v)) = %v", x, got)
		}
		if got, want := x.bitLen(), x.big().BitLen(); got != want {
			t.Errorf("bitLen(%v) = %d, want %d", x, got, want)
		}
	}
	for bits := 0; bits <= 128; bits++ {
		m := hostMask6(bits)
		want := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(128-bits)), big.NewInt(1))
		if m.big().Cmp(want) != 0 || !m.lowOnes() || m.bitLen() != 128-bits {
			t.Errorf("hostMask6(%d) = %v, want %v", bits, m.big(), want)
		}
		if bits > 0 && bits < 128 && m.inc().lowOnes() {
			t.Errorf("lowOnes(%v) = true", m.inc())
		}
	}
	if got := count6(maxU128); got.Cmp(two128) != 0 {
		t.Errorf("count6(max) = %v, want 2^128", got)
	}
}
