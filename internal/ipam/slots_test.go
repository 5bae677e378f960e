package ipam

import (
	"fmt"
	"math"
	"testing"
)

func TestSlots(t *testing.T) {
	regions := map[string]uint32{"bottom": 0, "mid": u32(ip("10.0.0.0")), "top": math.MaxUint32 - 1023}
	for _, avoid := range []bool{false, true} {
		s := slots{avoidBuggy: avoid}
		for name, start := range regions {
			t.Run(fmt.Sprintf("%s/avoid=%v", name, avoid), func(t *testing.T) {
				next := s.before(uint64(start))
				for n := uint64(start); n <= uint64(start)+1023; n++ {
					a := uint32(n)
					buggy := a&0xff == 0 || a&0xff == 0xff
					slot, ok := s.of(a)
					if ok == (avoid && buggy) {
						t.Fatalf("avoid=%v: of(%s) ok = %v", avoid, addr(a), ok)
					}
					if !ok {
						continue
					}
					if uint64(slot) != next {
						t.Fatalf("avoid=%v: of(%s) = %d, want %d", avoid, addr(a), slot, next)
					}
					if back := s.addr(slot); back != a {
						t.Fatalf("avoid=%v: addr(%d) = %s, want %s", avoid, slot, addr(back), addr(a))
					}
					next++
				}
				if got := s.before(uint64(start) + 1024); got != next {
					t.Fatalf("avoid=%v: before(end) = %d, want %d", avoid, got, next)
				}
			})
		}
	}
}
