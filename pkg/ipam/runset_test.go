package ipam

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkRuns fails unless s is a valid treap of sorted, maximal, disjoint runs
// holding exactly want.
func checkRuns(t *testing.T, s *runSet, want map[uint32]bool) {
	t.Helper()
	var prev *run
	count := 0
	var walk func(r *run)
	walk = func(r *run) {
		if r == nil {
			return
		}
		for _, c := range []*run{r.left, r.right} {
			if c != nil && c.prio > r.prio {
				t.Fatalf("heap order broken at run %d-%d", r.start, r.end)
			}
		}
		walk(r.left)
		if r.start > r.end {
			t.Fatalf("run %d-%d is backwards", r.start, r.end)
		}
		if prev != nil && uint64(prev.end)+1 >= uint64(r.start) {
			t.Fatalf("runs %d-%d and %d-%d touch or overlap", prev.start, prev.end, r.start, r.end)
		}
		for x := uint64(r.start); x <= uint64(r.end); x++ {
			if !want[uint32(x)] {
				t.Fatalf("run %d-%d holds %d", r.start, r.end, x)
			}
			count++
		}
		prev = r
		walk(r.right)
	}
	walk(s.root)
	if count != len(want) {
		t.Fatalf("runs hold %d numbers, want %d", count, len(want))
	}
}

func TestRunSetMatchesModel(t *testing.T) {
	bases := map[string]uint32{"bottom": 0, "middle": 1 << 31, "top": math.MaxUint32 - 40}
	for name, base := range bases {
		t.Run(name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, uint64(base)))
			var s runSet
			model := map[uint32]bool{}
			for range 5000 {
				x := base + uint32(rnd.IntN(41))
				if model[x] {
					s.remove(x)
					delete(model, x)
				} else {
					s.add(x)
					model[x] = true
				}
				checkRuns(t, &s, model)
				from := base + uint32(rnd.IntN(41))
				want := uint64(from)
				for want <= math.MaxUint32 && model[uint32(want)] {
					want++
				}
				if got := s.nextFree(from); got != want {
					t.Fatalf("nextFree(%d) = %d, want %d", from, got, want)
				}
			}
		})
	}
}
