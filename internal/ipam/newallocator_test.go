package ipam

import "testing"

func TestNewAllocatorRefuses(t *testing.T) {
	a := namedPool(t, "a", "10.0.0.0/24")
	tests := []struct {
		name      string
		pools     []Pool
		fragments []string
	}{
		{"duplicate names", []Pool{a, namedPool(t, "a", "10.0.1.0/24")}, []string{`pool "a" is defined twice`}},
		{"overlapping pools", []Pool{a, namedPool(t, "b", "10.0.0.128/25")},
			[]string{`pool "a" range 10.0.0.0/24 overlaps pool "b" range 10.0.0.128/25`}},
		{"overlap within a pool", []Pool{{Name: "a", Ranges: []Range{rng("10.0.0.1", "10.0.0.9"), rng("10.0.0.9", "10.0.0.9")}}},
			[]string{`pool "a" range 10.0.0.1-10.0.0.9 overlaps pool "a" range 10.0.0.9/32`}},
		{"empty pool", []Pool{{Name: "e"}}, []string{`pool "e" has no addresses`}},
		{"invalid range", []Pool{{Name: "v6", Ranges: []Range{{ip("::1"), ip("::2")}}}, {Name: "back", Ranges: []Range{rng("10.0.0.9", "10.0.0.1")}}},
			[]string{`pool "v6" range ::1-::2: not an IPv4 address`, `pool "back" range 10.0.0.9-10.0.0.1: not an IPv4 address: want an IPv4 range with First <= Last`}},
		{"every problem reported", []Pool{a, a, {Name: "e"}, namedPool(t, "c", "10.0.0.5")},
			[]string{`pool "a" is defined twice`, `pool "e" has no addresses`, `pool "a" range 10.0.0.0/24 overlaps pool "a" range 10.0.0.0/24`,
				`pool "a" range 10.0.0.0/24 overlaps pool "c" range 10.0.0.5/32`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewAllocator(tt.pools...)
			if got != nil {
				t.Errorf("NewAllocator gave an allocator")
			}
			checkErr(t, err, nil, tt.fragments...)
		})
	}
}

func TestNewAllocatorCopiesRanges(t *testing.T) {
	p := namedPool(t, "a", "10.0.0.0/30")
	a, err := NewAllocator(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Ranges[0] = rng("10.9.9.9", "10.9.9.9")
	allocates("a", "x", "10.0.0.1")(t, a)
	allocates("a", "x", "10.0.0.2")(t, a)
	allocateFails("a", "x", ErrExhausted, "no free address in 10.0.0.0/30 (2 of 2 in use)")(t, a)
}

// TestLargePool checks the answers, not the speed, with many addresses held.
func TestLargePool(t *testing.T) {
	tests := []struct {
		name   string
		stride uint32
		want   string
	}{
		{"contiguous", 1, "10.1.134.161"},
		{"alternating", 2, "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := heldPool(t, "10.0.0.0/8", false, 100_000, tt.stride)
			allocates("", "x", tt.want)(t, a)
			usage(PoolUsage{"p", 1<<24 - 2, 100_001})(t, a)
			releases(tt.want, "x", true)(t, a)
			releases("10.0.0.1", "h", true)(t, a)
			allocates("", "y", "10.0.0.1")(t, a)
		})
	}
}

// heldPool makes an allocator over one pool "p" with n addresses held by "h",
// one every stride addresses from the pool's first.
func heldPool(t testing.TB, spec string, avoid bool, n int, stride uint32) *Allocator {
	t.Helper()
	a, err := NewAllocator(Pool{Name: "p", Ranges: mustRanges(t, spec), AvoidBuggyIPs: avoid})
	if err != nil {
		t.Fatal(err)
	}
	first := u32(a.pools[0].Ranges[0].First)
	for i := range uint32(n) {
		if err := a.Reserve(addr(first+i*stride), "h"); err != nil {
			t.Fatal(err)
		}
	}
	return a
}
