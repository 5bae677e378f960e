package ipam

import (
	"errors"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// allocates6 hands out the lowest free IPv6 address of pool.
func allocates6(pool, want string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, err := a.AllocateFamily(pool, IPv6)
		if err != nil || got != ip(want) {
			t.Fatalf("AllocateFamily(%q, IPv6) = %v, %v; want %s", pool, got, err, want)
		}
	}
}

func allocate6Fails(pool string, is error, msg string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, err := a.AllocateFamily(pool, IPv6)
		if err == nil || err.Error() != msg || !errors.Is(err, is) {
			t.Fatalf("AllocateFamily(%q, IPv6) = %v, %v; want error %q matching %v", pool, got, err, msg, is)
		}
	}
}

// held6 checks whether each address's slot, of either family, is taken.
func held6(want bool, addrs ...string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		for _, x := range addrs {
			if got := slotTaken(a, ip(x)); got != want {
				t.Fatalf("%s taken = %v, want %v", x, got, want)
			}
		}
	}
}

// slotTaken reports whether ip, of either family, has a slot that is taken.
func slotTaken(a *Allocator, ip netip.Addr) bool {
	if ip.Is4() {
		return isTaken(a, ip)
	}
	if a.v6 == nil || !plain6(ip) {
		return false
	}
	s := a.v6.spanOf(u128Of(ip))
	return s != nil && s.used.has(u128Of(ip))
}

// famUsage checks FamilyUsage; sizes are given as decimal text.
func famUsage(want ...famCount) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		if diff := cmp.Diff(want, familyCounts(a.FamilyUsage())); diff != "" {
			t.Fatalf("FamilyUsage() (-want +got):\n%s", diff)
		}
	}
}

type famCount struct {
	Name   string
	Family Family
	Size   string
	InUse  uint64
}

func familyCounts(us []FamilyUsage) []famCount {
	var out []famCount
	for _, u := range us {
		out = append(out, famCount{u.Name, u.Family, u.Size.String(), u.InUse})
	}
	return out
}

// pow2m1 is 2^n-1 as decimal text.
func pow2m1(n uint) string {
	x := new(big.Int).Lsh(big.NewInt(1), n)
	return x.Sub(x, big.NewInt(1)).String()
}

func dualPool(t testing.TB, name, spec string) Pool {
	t.Helper()
	rs, _, err := DualStack.ParseRanges(spec)
	if err != nil {
		t.Fatalf("DualStack.ParseRanges(%q): %v", spec, err)
	}
	return Pool{Name: name, Ranges: rs}
}

func newDual(t testing.TB, pools ...Pool) *Allocator {
	t.Helper()
	a, err := DualStack.NewAllocator(pools...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDualStackAllocator(t *testing.T) {
	p64 := dualPool(t, "a", "fd00::/64")
	mixed := dualPool(t, "m", "10.0.0.0/30, fd00:1::/126")
	tests := []struct {
		name  string
		pools []Pool
		steps []step
	}{
		{"a /64 skips its anycast address and hands out the lowest free", []Pool{p64}, []step{
			allocates6("a", "fd00::1"),
			allocates6("", "fd00::2"),
			held6(true, "fd00::1", "fd00::2"),
			held6(false, "fd00::", "fd00::3"),
			inPool("fd00::", ""), inPool("fd00::1", "a"), inPool("fd00::ffff:ffff:ffff:ffff", "a"),
			takes("fd00::"), // the anycast address has no slot: taking it changes nothing
			held6(false, "fd00::"),
			usage(PoolUsage{"a", math.MaxUint64, 2}),
			famUsage(famCount{"a", IPv6, pow2m1(64), 2}),
		}},
		{"a /127 gives both its addresses", []Pool{dualPool(t, "a", "fd00::/127")}, []step{
			allocates6("a", "fd00::"), allocates6("a", "fd00::1"),
			allocate6Fails("a", ErrExhausted, "no free address in fd00::/127 (2 of 2 in use)"),
			usage(PoolUsage{"a", 2, 2}),
		}},
		{"a /128 gives its one address", []Pool{dualPool(t, "a", "fd00::7/128")}, []step{
			allocates6("a", "fd00::7"),
			allocate6Fails("a", ErrExhausted, "no free address in fd00::7/128 (1 of 1 in use)"),
			frees("fd00::7"),
			allocates6("a", "fd00::7"),
		}},
		{"a /126 keeps its last address", []Pool{dualPool(t, "a", "fd00::4/126")}, []step{
			allocates6("a", "fd00::5"), allocates6("a", "fd00::6"), allocates6("a", "fd00::7"),
			allocate6Fails("a", ErrExhausted, "no free address in fd00::4/126 (3 of 3 in use)"),
		}},
		{"a mixed pool hands out each family apart", []Pool{mixed}, []step{
			allocates("m", "10.0.0.1"),
			allocates6("m", "fd00:1::1"),
			allocates("m", "10.0.0.2"),
			allocateFails("m", ErrExhausted, "no free address in 10.0.0.0/30 (2 of 2 in use)"),
			allocates6("m", "fd00:1::2"),
			allocates6("m", "fd00:1::3"),
			allocate6Fails("m", ErrExhausted, "no free address in fd00:1::/126 (3 of 3 in use)"),
			usage(PoolUsage{"m", 5, 5}),
			famUsage(famCount{"m", IPv4, "2", 2}, famCount{"m", IPv6, "3", 3}),
			frees("10.0.0.1", "fd00:1::2"),
			usage(PoolUsage{"m", 5, 3}),
			allocates6("m", "fd00:1::2"),
			allocates("m", "10.0.0.1"),
		}},
		{"AllocateFamily IPv4 is Allocate", []Pool{mixed}, []step{
			func(t *testing.T, a *Allocator) {
				if got, err := a.AllocateFamily("m", IPv4); err != nil || got != ip("10.0.0.1") {
					t.Fatalf("AllocateFamily(m, IPv4) = %v, %v", got, err)
				}
				if _, err := a.AllocateFamily("m", 0); err == nil || err.Error() != "no address family Family(0): want IPv4 or IPv6" {
					t.Fatalf("AllocateFamily(m, 0) = %v", err)
				}
			},
			allocates("m", "10.0.0.2"),
		}},
		{"a pool without a family's ranges is exhausted for it, saying so", []Pool{dualPool(t, "v4", "10.0.0.0/30"), p64}, []step{
			allocate6Fails("v4", ErrExhausted, "no free address: the pool has no IPv6 range, only 10.0.0.0/30"),
			allocateFails("a", ErrExhausted, "no free address: the pool has no IPv4 range, only fd00::/64"),
			famUsage(famCount{"v4", IPv4, "2", 0}, famCount{"a", IPv6, pow2m1(64), 0}),
		}},
		{"take, in use, free, round trip", []Pool{p64}, []step{
			takes("fd00::5"),
			takeFails("fd00::5", ErrInUse, "address in use: fd00::5"),
			allocates6("a", "fd00::1"),
			takeFails("fd00::1", ErrInUse, "address in use: fd00::1"),
			frees("fd00::5", "fd00::5", "fd00::9"), // idempotent; fd00::9 was never taken
			held6(false, "fd00::5"),
			takes("fd00::5"),
			usage(PoolUsage{"a", math.MaxUint64, 2}),
		}},
		{"outside every pool: no slot, no conflict", []Pool{p64}, []step{
			takes("fd01::1", "fd01::1", "10.9.9.9"),
			held6(false, "fd01::1", "10.9.9.9"),
			inPool("fd01::1", ""),
			frees("fd01::1"),
			famUsage(famCount{"a", IPv6, pow2m1(64), 0}),
		}},
		{"IPv4-mapped and zoned addresses are refused", []Pool{p64, dualPool(t, "v4", "10.0.0.0/29")}, []step{
			takeFails("::ffff:10.0.0.1", ErrNotIPv4,
				"cannot take ::ffff:10.0.0.1: not an IPv4 address: ::ffff:10.0.0.1 is IPv4-mapped IPv6; write it as 10.0.0.1"),
			func(t *testing.T, a *Allocator) {
				err := a.Take(ip("fd00::1%eth0"))
				checkErr(t, err, nil, "cannot take fd00::1%eth0: fd00::1%eth0 has a zone: give the address without %eth0")
			},
			frees("::ffff:10.0.0.1", "fd00::1%eth0"),
			inPool("::ffff:10.0.0.1", ""), inPool("fd00::1%eth0", ""),
			allocates6("a", "fd00::1"),
			allocates("v4", "10.0.0.1"),
		}},
		{"ranges are used in address order, across the 64-bit boundary", []Pool{dualPool(t, "a", "fd00:0:0:1::1-fd00:0:0:1::2, fd00::ffff:ffff:ffff:fffe-fd00:0:0:1::")}, []step{
			allocates6("a", "fd00::ffff:ffff:ffff:fffe"),
			allocates6("a", "fd00::ffff:ffff:ffff:ffff"),
			allocates6("a", "fd00:0:0:1::"),
			allocates6("a", "fd00:0:0:1::1"),
			frees("fd00::ffff:ffff:ffff:ffff"),
			allocates6("a", "fd00::ffff:ffff:ffff:ffff"),
			allocates6("a", "fd00:0:0:1::2"),
			allocate6Fails("a", ErrExhausted, "no free address in fd00:0:0:1::1-fd00:0:0:1::2, fd00::ffff:ffff:ffff:fffe-fd00:0:0:1:: (5 of 5 in use)"),
		}},
		{"top and bottom of the IPv6 space", []Pool{dualPool(t, "hi", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"), dualPool(t, "lo", "::/127")}, []step{
			allocates6("hi", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
			allocates6("hi", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			allocate6Fails("hi", ErrExhausted, "no free address in ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127 (2 of 2 in use)"),
			allocates6("lo", "::"), allocates6("lo", "::1"),
			frees("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			allocates6("hi", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		}},
		{"several pools of both families", []Pool{dualPool(t, "a", "fd00:a::/120"), dualPool(t, "b", "10.0.1.0/30, fd00:b::/127"), avoiding(dualPool(t, "c", "10.0.2.255-10.0.3.1, fd00:c::ff-fd00:c::100"))}, []step{
			allocates6("b", "fd00:b::"),
			allocates6("", "fd00:a::1"),
			allocates6("c", "fd00:c::ff"), // avoid buggy is for IPv4 only
			allocates6("c", "fd00:c::100"),
			allocates("c", "10.0.3.1"),
			inPool("fd00:a::ff", "a"), inPool("fd00:b::1", "b"), inPool("fd00:c::100", "c"), inPool("fd00:c::101", ""),
			usage(PoolUsage{"a", 255, 1}, PoolUsage{"b", 4, 1}, PoolUsage{"c", 3, 3}),
			famUsage(famCount{"a", IPv6, "255", 1}, famCount{"b", IPv4, "2", 0}, famCount{"b", IPv6, "2", 1},
				famCount{"c", IPv4, "1", 1}, famCount{"c", IPv6, "2", 2}),
		}},
		{"no pools", nil, []step{
			allocate6Fails("", ErrUnknownPool, "unknown pool: no pools are configured"),
			takes("fd00::1", "fd00::1"),
			inPool("fd00::1", ""),
			famUsage(),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newDual(t, tt.pools...)
			for _, s := range tt.steps {
				s(t, a)
			}
		})
	}
}

// TestIPv4OnlyRefusesIPv6 pins the provider's refusal: an IPv4Only
// allocator takes no IPv6 pool, address or allocation.
func TestIPv4OnlyRefusesIPv6(t *testing.T) {
	_, err := NewAllocator(dualPool(t, "v6", "fd00::/120"))
	checkErr(t, err, ErrNotIPv4, `pool "v6" range fd00::/120: not an IPv4 address: want an IPv4 range with First <= Last`)
	_, err = IPv4Only.Repool(nil, dualPool(t, "m", "10.0.0.0/30, fd00::/120"))
	checkErr(t, err, ErrNotIPv4, `pool "m" range fd00::/120: not an IPv4 address`)

	a, err := NewAllocator(namedPool(t, "a", "10.0.0.0/30"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.AllocateFamily("a", IPv6)
	checkErr(t, err, ErrIPv6, `cannot allocate from pool "a": IPv6 is not supported`)
	takeFails("fd00::1", ErrNotIPv4, "cannot take fd00::1: not an IPv4 address")(t, a)
	if got := a.FamilyUsage(); len(got) != 1 || got[0].Family != IPv4 {
		t.Errorf("FamilyUsage() = %v, want one IPv4 entry", got)
	}
}

func TestDualStackRefusesPools(t *testing.T) {
	tests := []struct {
		name      string
		pools     []Pool
		is        error
		fragments []string
	}{
		{"overlap within IPv6", []Pool{dualPool(t, "a", "fd00::/64"), dualPool(t, "b", "10.0.0.0/30, fd00::8000:0:0:0/65")}, nil,
			[]string{`pool "a" range fd00::/64 overlaps pool "b" range fd00::8000:0:0:0/65`}},
		{"families never overlap", []Pool{dualPool(t, "a", "0.0.0.0/0"), dualPool(t, "b", "8000::/1")}, nil, nil},
		{"mixed-family range", []Pool{{Name: "x", Ranges: []Range{rng("10.0.0.1", "fd00::1")}}}, nil,
			[]string{`pool "x" range 10.0.0.1-fd00::1: want an IPv4 or IPv6 range with First <= Last, both ends of one family`}},
		{"backwards IPv6", []Pool{{Name: "x", Ranges: []Range{rng("fd00::9", "fd00::1")}}}, nil,
			[]string{`pool "x" range fd00::9-fd00::1: want an IPv4 or IPv6 range`}},
		{"IPv4-mapped ends", []Pool{{Name: "x", Ranges: []Range{rng("::ffff:10.0.0.1", "::ffff:10.0.0.9")}}}, nil,
			[]string{`pool "x" range ::ffff:10.0.0.1-::ffff:10.0.0.9: want an IPv4 or IPv6 range`}},
		{"zoned ends", []Pool{{Name: "x", Ranges: []Range{rng("fd00::1%eth0", "fd00::9%eth0")}}}, nil,
			[]string{`want an IPv4 or IPv6 range`}},
		{"spanning the IPv4-mapped block", []Pool{{Name: "x", Ranges: []Range{rng("::fffe:0:0", "::1:0:0:0")}}}, ErrSpecial,
			[]string{`pool "x" range ::fffe:0:0-::1:0:0:0: special-purpose address: it overlaps the IPv4-mapped block ::ffff:0:0/96`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := DualStack.NewAllocator(tt.pools...)
			checkErr(t, err, tt.is, tt.fragments...)
			if (a == nil) != (err != nil) {
				t.Errorf("NewAllocator = %v, %v", a, err)
			}
		})
	}
}

// TestHugeIPv6Pools checks the answers, and the counts, where no enumeration
// could finish: a /16 holds 2^112 addresses.
func TestHugeIPv6Pools(t *testing.T) {
	pools := []Pool{
		dualPool(t, "p16", "fd00::/16"),
		dualPool(t, "p48", "8000::/48"),
		dualPool(t, "half", "0:0:0:1::-7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, 10.0.0.0/8"),
	}
	// 2^127 - 2^64: the lower half of the space but its first /64.
	halfSpace := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), new(big.Int).Lsh(big.NewInt(1), 64)).String()
	a := newDual(t, pools...)
	for _, s := range []step{
		famUsage(famCount{"p16", IPv6, pow2m1(112), 0}, famCount{"p48", IPv6, pow2m1(80), 0},
			famCount{"half", IPv4, "16777214", 0}, famCount{"half", IPv6, halfSpace, 0}),
		usage(PoolUsage{"p16", math.MaxUint64, 0}, PoolUsage{"p48", math.MaxUint64, 0}, PoolUsage{"half", math.MaxUint64, 0}),
		allocates6("p16", "fd00::1"),
		allocates6("p48", "8000::1"),
		allocates6("half", "0:0:0:1::"),
		takes("fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		held6(true, "fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		famUsage(famCount{"p16", IPv6, pow2m1(112), 2}, famCount{"p48", IPv6, pow2m1(80), 1},
			famCount{"half", IPv4, "16777214", 0}, famCount{"half", IPv6, halfSpace, 2}),
		frees("fd00::1"),
		allocates6("p16", "fd00::1"),
	} {
		s(t, a)
	}

	// 100,000 taken at the bottom of the /16, alternating: one run each.
	var taken []netip.Addr
	for i := range uint64(100_000) {
		taken = append(taken, u128{0xfd00 << 48, 2*i + 1}.addr6())
	}
	next, err := DualStack.Repool(taken, pools...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []step{
		allocates6("p16", "fd00::2"),
		allocates6("p16", "fd00::4"),
		held6(true, "fd00::1", "fd00::3", "fd00::3:d3f"),
		held6(false, "fd00::6", "fd00::3:d40"),
		famUsage(famCount{"p16", IPv6, pow2m1(112), 100_002}, famCount{"p48", IPv6, pow2m1(80), 0},
			famCount{"half", IPv4, "16777214", 0}, famCount{"half", IPv6, halfSpace, 0}),
		frees("fd00::3"),
		allocates6("p16", "fd00::3"),
	} {
		s(t, next)
	}
}

// TestIPv6CostIgnoresPoolSize checks that an allocate-and-free cycle does
// the same work in a /120 and a /16: no allocation either way, and the same
// number of runs in the used set however wide the pool.
func TestIPv6CostIgnoresPoolSize(t *testing.T) {
	for _, spec := range []string{"fd00::/120", "fd00::/64", "fd00::/32", "fd00::/16"} {
		a := newDual(t, dualPool(t, "p", spec))
		for i := range uint64(100) {
			if err := a.Take(u128{0xfd00 << 48, 2*i + 1}.addr6()); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() {
			got, err := a.AllocateFamily("p", IPv6)
			if err != nil {
				t.Fatal(err)
			}
			a.Free(got)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per allocate and free, want 0", spec, allocs)
		}
		if n := countRuns6(a.v6.spans[0].used.root); n != 100 {
			t.Errorf("%s: %d runs, want 100", spec, n)
		}
	}
}

func countRuns6(r *run6) int {
	if r == nil {
		return 0
	}
	return 1 + countRuns6(r.left) + countRuns6(r.right)
}

func TestPoolHas(t *testing.T) {
	p := dualPool(t, "m", "10.0.0.0/30, fd00::/126")
	if !p.Has(IPv4) || !p.Has(IPv6) || dualPool(t, "v6", "fd00::1").Has(IPv4) || (Pool{}).Has(IPv4) {
		t.Error("Has: want each family a pool has a range of, and no other")
	}
	if !slices.Equal(rangesOf(p.Ranges, IPv6), p.Ranges[1:]) {
		t.Errorf("rangesOf(IPv6) = %v", texts(rangesOf(p.Ranges, IPv6)))
	}
}
