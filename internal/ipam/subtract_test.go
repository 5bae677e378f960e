package ipam

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSubtract(t *testing.T) {
	tests := []struct {
		name      string
		rs, minus string // ParseRanges lists; minus may be empty
		want      []string
	}{
		{"nothing to remove", "10.0.0.0/29", "", []string{"10.0.0.1-10.0.0.6"}},
		{"hole in the middle", "10.0.0.0/29", "10.0.0.3", []string{"10.0.0.1-10.0.0.2", "10.0.0.4-10.0.0.6"}},
		{"hole at each end", "10.0.0.0/29", "10.0.0.1, 10.0.0.6", []string{"10.0.0.2-10.0.0.5"}},
		{"hole wider than the range", "10.0.0.0/29", "10.0.0.0-10.0.0.9", nil},
		{"holes outside", "10.0.0.0/29", "10.0.1.0/24, 9.0.0.0/8", []string{"10.0.0.1-10.0.0.6"}},
		{"overlapping and touching holes merge", "10.0.0.0/24", "10.0.0.20-10.0.0.30, 10.0.0.10-10.0.0.25, 10.0.0.31",
			[]string{"10.0.0.1-10.0.0.9", "10.0.0.32-10.0.0.254"}},
		{"several ranges keep their order", "10.0.2.0/30, 10.0.1.0/29", "10.0.1.2, 10.0.2.1",
			[]string{"10.0.2.2-10.0.2.2", "10.0.1.1-10.0.1.1", "10.0.1.3-10.0.1.6"}},
		{"top of the space", "255.255.255.254/31", "255.255.255.255", []string{"255.255.255.254-255.255.255.254"}},
		{"bottom of the space", "0.0.0.0/31", "0.0.0.0", []string{"0.0.0.1-0.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Items one by one, since ParseRanges refuses overlaps.
			var minus []Range
			for _, item := range strings.Split(tt.minus, ",") {
				if strings.TrimSpace(item) != "" {
					minus = append(minus, mustRanges(t, item)...)
				}
			}
			got := Subtract(mustRanges(t, tt.rs), minus)
			if diff := cmp.Diff(tt.want, texts(got)); diff != "" {
				t.Errorf("Subtract (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubtractDropsInvalidRanges(t *testing.T) {
	got := Subtract([]Range{rng("10.0.0.9", "10.0.0.1"), {}, rng("10.0.0.1", "10.0.0.3")}, []Range{{}, rng("10.0.0.2", "10.0.0.2")})
	if diff := cmp.Diff([]string{"10.0.0.1-10.0.0.1", "10.0.0.3-10.0.0.3"}, texts(got)); diff != "" {
		t.Errorf("Subtract (-want +got):\n%s", diff)
	}
}

// TestSubtractMatchesModel compares Subtract with address-by-address
// membership over a small stretch of addresses.
func TestSubtractMatchesModel(t *testing.T) {
	base := u32(ip("10.0.0.0"))
	randRanges := func(rnd *rand.Rand, n int) []Range {
		var out []Range
		for range n {
			a, b := base+rnd.Uint32N(64), base+rnd.Uint32N(64)
			out = append(out, Range{addr(min(a, b)), addr(max(a, b))})
		}
		return out
	}
	in := func(rs []Range, n uint32) bool {
		return slices.ContainsFunc(rs, func(r Range) bool { return r.Contains(addr(n)) })
	}
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 2))
		rs := randRanges(rnd, 1) // one range: Subtract keeps the order of rs, pieces ascending
		minus := randRanges(rnd, rnd.IntN(5))
		got := Subtract(rs, minus)
		for n := base; n < base+64; n++ {
			if want := in(rs, n) && !in(minus, n); in(got, n) != want {
				t.Fatalf("seed %d: %s in Subtract(%v, %v) = %v: %v, want %v", seed, addr(n), texts(rs), texts(minus), texts(got), !want, want)
			}
		}
		for i := 1; i < len(got); i++ {
			if uint64(u32(got[i-1].Last))+1 >= uint64(u32(got[i].First)) {
				t.Fatalf("seed %d: pieces %v touch or are out of order", seed, texts(got))
			}
		}
	}
}
