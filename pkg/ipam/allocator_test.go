package ipam

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// step is one action on an allocator, with what it should give.
type step func(t *testing.T, a *Allocator)

func allocates(pool, holder, want string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, err := a.Allocate(pool, holder)
		if err != nil || got != ip(want) {
			t.Fatalf("Allocate(%q, %q) = %v, %v; want %s", pool, holder, got, err, want)
		}
	}
}

func allocateFails(pool, holder string, is error, msg string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, err := a.Allocate(pool, holder)
		if err == nil || err.Error() != msg || (is != nil && !errors.Is(err, is)) {
			t.Fatalf("Allocate(%q, %q) = %v, %v; want error %q matching %v", pool, holder, got, err, msg, is)
		}
	}
}

func reserves(addr, holder string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		if err := a.Reserve(ip(addr), holder); err != nil {
			t.Fatalf("Reserve(%s, %q): %v", addr, holder, err)
		}
	}
}

func reserveFails(addr, holder string, is error, msg string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		err := a.Reserve(ip(addr), holder)
		if err == nil || err.Error() != msg || (is != nil && !errors.Is(err, is)) {
			t.Fatalf("Reserve(%s, %q) = %v; want error %q matching %v", addr, holder, err, msg, is)
		}
	}
}

func releases(addr, holder string, want bool) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		if got := a.Release(ip(addr), holder); got != want {
			t.Fatalf("Release(%s, %q) = %v, want %v", addr, holder, got, want)
		}
	}
}

// heldBy checks the holder of addr; "" means nobody.
func heldBy(addr, want string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, ok := a.Holder(ip(addr))
		if got != want || ok != (want != "") {
			t.Fatalf("Holder(%s) = %q, %v; want %q", addr, got, ok, want)
		}
	}
}

// inPool checks which pool contains addr; "" means none.
func inPool(addr, want string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, ok := a.PoolOf(ip(addr))
		if got != want || ok != (want != "") {
			t.Fatalf("PoolOf(%s) = %q, %v; want %q", addr, got, ok, want)
		}
	}
}

func usage(want ...PoolUsage) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		if diff := cmp.Diff(want, a.Usage()); diff != "" {
			t.Fatalf("Usage() (-want +got):\n%s", diff)
		}
	}
}

func TestAllocator(t *testing.T) {
	p29 := namedPool(t, "a", "10.0.0.0/29")
	tests := []struct {
		name  string
		pools []Pool
		steps []step
	}{
		{"lowest free first", []Pool{p29}, []step{
			allocates("a", "x", "10.0.0.1"),
			allocates("a", "y", "10.0.0.2"),
			allocates("", "z", "10.0.0.3"),
			usage(PoolUsage{"a", 6, 3}),
		}},
		{"skips reserved addresses", []Pool{p29}, []step{
			reserves("10.0.0.1", "r"),
			reserves("10.0.0.3", "r"),
			allocates("a", "x", "10.0.0.2"),
			allocates("a", "x", "10.0.0.4"),
			heldBy("10.0.0.3", "r"),
		}},
		{"exhaustion names the pool and counts", []Pool{p29}, []step{
			reserves("10.0.0.1", "r"), reserves("10.0.0.2", "r"), reserves("10.0.0.3", "r"),
			reserves("10.0.0.4", "r"), reserves("10.0.0.5", "r"), reserves("10.0.0.6", "r"),
			allocateFails("a", "x", ErrExhausted, "no free address in 10.0.0.0/29 (6 of 6 in use)"),
			releases("10.0.0.4", "r", true),
			allocates("a", "x", "10.0.0.4"),
		}},
		{"exhaustion lists every range", []Pool{namedPool(t, "a", "10.0.1.5-10.0.1.7, 10.0.0.0/30")}, []step{
			allocates("a", "x", "10.0.0.1"), allocates("a", "x", "10.0.0.2"), allocates("a", "x", "10.0.1.5"),
			allocates("a", "x", "10.0.1.6"), allocates("a", "x", "10.0.1.7"),
			allocateFails("a", "x", ErrExhausted, "no free address in 10.0.1.5-10.0.1.7, 10.0.0.0/30 (5 of 5 in use)"),
		}},
		{"reserve outside every pool", []Pool{p29}, []step{
			reserves("192.168.1.1", "ext/svc"),
			heldBy("192.168.1.1", "ext/svc"),
			inPool("192.168.1.1", ""),
			reserves("10.0.0.7", "ext/bcast"), // the /29's broadcast: outside its hosts
			inPool("10.0.0.7", ""),
			usage(PoolUsage{"a", 6, 0}),
			allocates("a", "x", "10.0.0.1"),
			releases("192.168.1.1", "ext/svc", true),
			heldBy("192.168.1.1", ""),
		}},
		{"reserve is idempotent", []Pool{p29}, []step{
			reserves("10.0.0.2", "ns/web"),
			reserves("10.0.0.2", "ns/web"),
			usage(PoolUsage{"a", 6, 1}),
			releases("10.0.0.2", "ns/web", true),
			usage(PoolUsage{"a", 6, 0}),
		}},
		{"reserve held by another names it", []Pool{p29}, []step{
			reserves("10.0.0.5", "default/web"),
			reserveFails("10.0.0.5", "default/echo", ErrInUse, "address 10.0.0.5 is already held by default/web"),
			allocates("a", "default/db", "10.0.0.1"),
			reserveFails("10.0.0.1", "default/echo", ErrInUse, "address 10.0.0.1 is already held by default/db"),
			heldBy("10.0.0.5", "default/web"),
		}},
		{"a holder may hold several", []Pool{p29}, []step{
			allocates("a", "x", "10.0.0.1"),
			allocates("a", "x", "10.0.0.2"),
			reserves("10.0.0.3", "x"),
			usage(PoolUsage{"a", 6, 3}),
		}},
		{"release by the wrong holder is a no-op", []Pool{p29}, []step{
			allocates("a", "x", "10.0.0.1"),
			releases("10.0.0.1", "y", false),
			releases("10.0.0.2", "x", false),
			releases("10.0.0.1", "", false),
			heldBy("10.0.0.1", "x"),
			usage(PoolUsage{"a", 6, 1}),
			releases("10.0.0.1", "x", true),
			releases("10.0.0.1", "x", false),
		}},
		{"released addresses are reused lowest first", []Pool{p29}, []step{
			allocates("a", "x", "10.0.0.1"), allocates("a", "x", "10.0.0.2"),
			allocates("a", "x", "10.0.0.3"), allocates("a", "x", "10.0.0.4"),
			releases("10.0.0.3", "x", true),
			releases("10.0.0.2", "x", true),
			allocates("a", "y", "10.0.0.2"),
			allocates("a", "y", "10.0.0.3"),
			allocates("a", "y", "10.0.0.5"),
		}},
		{"avoid buggy skips .0 and .255", []Pool{avoiding(namedPool(t, "a", "10.0.0.253-10.0.1.1"))}, []step{
			usage(PoolUsage{"a", 3, 0}),
			allocates("a", "x", "10.0.0.253"),
			allocates("a", "x", "10.0.0.254"),
			allocates("a", "x", "10.0.1.1"),
			allocateFails("a", "x", ErrExhausted, "no free address in 10.0.0.253-10.0.1.1 (3 of 3 in use)"),
		}},
		{"avoid buggy still lets .255 be reserved", []Pool{avoiding(namedPool(t, "a", "10.0.0.254-10.0.1.1"))}, []step{
			reserves("10.0.0.255", "ask/ed"),
			inPool("10.0.0.255", "a"),
			heldBy("10.0.0.255", "ask/ed"),
			usage(PoolUsage{"a", 2, 0}),
			reserves("10.0.1.0", "ask/ed"),
			allocates("a", "x", "10.0.0.254"),
			allocates("a", "x", "10.0.1.1"),
			releases("10.0.0.255", "ask/ed", true),
			allocateFails("a", "x", ErrExhausted, "no free address in 10.0.0.254-10.0.1.1 (2 of 2 in use)"),
		}},
		{"avoid buggy pool with nothing to give", []Pool{avoiding(namedPool(t, "a", "10.0.0.255/32"))}, []step{
			usage(PoolUsage{"a", 0, 0}),
			allocateFails("a", "x", ErrExhausted, "no free address in 10.0.0.255/32 (0 of 0 in use)"),
		}},
		{"without avoid buggy .0 and .255 are handed out", []Pool{namedPool(t, "a", "10.0.0.255-10.0.1.0")}, []step{
			allocates("a", "x", "10.0.0.255"),
			allocates("a", "x", "10.0.1.0"),
		}},
		{"ranges are used in address order", []Pool{namedPool(t, "a", "10.0.2.0/31, 10.0.1.0/31")}, []step{
			allocates("a", "x", "10.0.1.0"), allocates("a", "x", "10.0.1.1"),
			allocates("a", "x", "10.0.2.0"), allocates("a", "x", "10.0.2.1"),
		}},
		{"several pools", []Pool{p29, namedPool(t, "b", "10.0.1.0/30"), avoiding(namedPool(t, "c", "10.0.2.255-10.0.3.1"))}, []step{
			allocates("b", "x", "10.0.1.1"),
			allocates("", "x", "10.0.0.1"),
			allocates("c", "x", "10.0.3.1"),
			allocates("b", "x", "10.0.1.2"),
			allocateFails("b", "x", ErrExhausted, "no free address in 10.0.1.0/30 (2 of 2 in use)"),
			allocates("a", "x", "10.0.0.2"),
			inPool("10.0.0.6", "a"), inPool("10.0.1.2", "b"), inPool("10.0.2.255", "c"), inPool("10.0.3.0", "c"),
			inPool("10.0.1.3", ""),
			usage(PoolUsage{"a", 6, 2}, PoolUsage{"b", 2, 2}, PoolUsage{"c", 1, 1}),
		}},
		{"unknown pool", []Pool{p29}, []step{
			allocateFails("nope", "x", ErrUnknownPool, `unknown pool "nope"`),
		}},
		{"no pools", nil, []step{
			allocateFails("", "x", ErrUnknownPool, "unknown pool: no pools are configured"),
			reserves("10.0.0.1", "x"),
			heldBy("10.0.0.1", "x"),
			usage([]PoolUsage{}...),
		}},
		{"bad arguments", []Pool{p29}, []step{
			reserveFails("2001:db8::1", "x", ErrNotIPv4, "cannot reserve: not an IPv4 address: 2001:db8::1"),
			reserveFails("::ffff:10.0.0.1", "x", ErrNotIPv4, "cannot reserve: not an IPv4 address: ::ffff:10.0.0.1"),
			reserveFails("10.0.0.1", "", nil, "cannot reserve: empty holder"),
			allocateFails("a", "", nil, "cannot allocate: empty holder"),
			releases("2001:db8::1", "x", false),
			heldBy("2001:db8::1", ""),
			inPool("::ffff:10.0.0.1", ""),
		}},
		{"top and bottom of the address space", []Pool{namedPool(t, "hi", "255.255.255.254/31"), namedPool(t, "lo", "0.0.0.0/31")}, []step{
			allocates("hi", "x", "255.255.255.254"), allocates("hi", "x", "255.255.255.255"),
			allocateFails("hi", "x", ErrExhausted, "no free address in 255.255.255.254/31 (2 of 2 in use)"),
			allocates("lo", "x", "0.0.0.0"), allocates("lo", "x", "0.0.0.1"),
			releases("255.255.255.255", "x", true),
			allocates("hi", "y", "255.255.255.255"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAllocator(tt.pools...)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				s(t, a)
			}
		})
	}
}

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

func TestRepool(t *testing.T) {
	tests := []struct {
		name    string
		before  []Pool
		held    []step
		after   []Pool
		outside []string
		steps   []step // run on the new allocator
	}{
		{
			name:   "grow keeps addresses and hands out the new room",
			before: []Pool{namedPool(t, "a", "10.0.0.0/30")},
			held:   []step{allocates("a", "ns/x", "10.0.0.1"), allocates("a", "ns/y", "10.0.0.2")},
			after:  []Pool{namedPool(t, "a", "10.0.0.0/29")},
			steps: []step{
				heldBy("10.0.0.1", "ns/x"), heldBy("10.0.0.2", "ns/y"),
				usage(PoolUsage{"a", 6, 2}),
				allocates("a", "ns/z", "10.0.0.3"),
			},
		},
		{
			name:    "shrink keeps addresses that fall out and reports them",
			before:  []Pool{namedPool(t, "a", "10.0.0.0/29")},
			held:    []step{reserves("10.0.0.2", "ns/x"), reserves("10.0.0.6", "ns/y"), reserves("10.0.0.5", "ns/z")},
			after:   []Pool{namedPool(t, "a", "10.0.0.0/30")},
			outside: []string{"10.0.0.5", "10.0.0.6"},
			steps: []step{
				heldBy("10.0.0.5", "ns/z"), heldBy("10.0.0.6", "ns/y"), inPool("10.0.0.6", ""),
				usage(PoolUsage{"a", 2, 1}),
				allocates("a", "ns/w", "10.0.0.1"),
				allocateFails("a", "ns/v", ErrExhausted, "no free address in 10.0.0.0/30 (2 of 2 in use)"),
				reserveFails("10.0.0.6", "ns/v", ErrInUse, "address 10.0.0.6 is already held by ns/y"),
				releases("10.0.0.6", "ns/y", true),
			},
		},
		{
			name:   "rename and split move counts to the new pools",
			before: []Pool{namedPool(t, "old", "10.0.0.0/24")},
			held:   []step{reserves("10.0.0.10", "ns/x"), reserves("10.0.0.200", "ns/y"), reserves("10.0.0.201", "ns/z")},
			after:  []Pool{namedPool(t, "low", "10.0.0.0-10.0.0.127"), namedPool(t, "high", "10.0.0.128-10.0.0.255")},
			steps: []step{
				inPool("10.0.0.10", "low"), inPool("10.0.0.200", "high"),
				usage(PoolUsage{"low", 128, 1}, PoolUsage{"high", 128, 2}),
				allocateFails("old", "ns/w", ErrUnknownPool, `unknown pool "old"`),
				allocates("high", "ns/w", "10.0.0.128"),
			},
		},
		{
			name:    "addresses held outside every pool stay outside",
			before:  []Pool{namedPool(t, "a", "10.0.0.0/30")},
			held:    []step{reserves("192.168.0.1", "ns/x")},
			after:   []Pool{namedPool(t, "a", "10.0.0.0/29")},
			outside: []string{"192.168.0.1"},
			steps:   []step{heldBy("192.168.0.1", "ns/x"), usage(PoolUsage{"a", 6, 0})},
		},
		{
			name:   "an address outside before may fall in a new pool",
			before: []Pool{namedPool(t, "a", "10.0.0.0/30")},
			held:   []step{reserves("10.0.1.1", "ns/x")},
			after:  []Pool{namedPool(t, "a", "10.0.0.0/30"), namedPool(t, "b", "10.0.1.0/30")},
			steps: []step{
				usage(PoolUsage{"a", 2, 0}, PoolUsage{"b", 2, 1}),
				allocates("b", "ns/y", "10.0.1.2"),
			},
		},
		{
			name:   "turning on avoid buggy keeps a held .0 but stops counting it",
			before: []Pool{namedPool(t, "a", "10.0.0.255-10.0.1.1")},
			held:   []step{allocates("a", "ns/x", "10.0.0.255"), allocates("a", "ns/y", "10.0.1.0")},
			after:  []Pool{avoiding(namedPool(t, "a", "10.0.0.255-10.0.1.1"))},
			steps: []step{
				heldBy("10.0.0.255", "ns/x"), heldBy("10.0.1.0", "ns/y"), inPool("10.0.1.0", "a"),
				usage(PoolUsage{"a", 1, 0}),
				allocates("a", "ns/z", "10.0.1.1"),
				releases("10.0.1.0", "ns/y", true),
				usage(PoolUsage{"a", 1, 1}),
			},
		},
		{
			name:   "turning off avoid buggy counts a held .0 again",
			before: []Pool{avoiding(namedPool(t, "a", "10.0.0.255-10.0.1.1"))},
			held:   []step{reserves("10.0.1.0", "ns/x")},
			after:  []Pool{namedPool(t, "a", "10.0.0.255-10.0.1.1")},
			steps: []step{
				usage(PoolUsage{"a", 3, 1}),
				allocates("a", "ns/y", "10.0.0.255"),
				allocates("a", "ns/y", "10.0.1.1"),
			},
		},
		{
			name:    "no pools at all keeps every holding",
			before:  []Pool{namedPool(t, "a", "10.0.0.0/30")},
			held:    []step{allocates("a", "ns/x", "10.0.0.1")},
			outside: []string{"10.0.0.1"},
			steps:   []step{heldBy("10.0.0.1", "ns/x"), usage([]PoolUsage{}...)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAllocator(tt.before...)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.held {
				s(t, a)
			}
			oldUsage, oldHoldings := a.Usage(), holdings(a)
			next, outside, err := a.Repool(tt.after...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.outside, addrTexts(outside)); diff != "" {
				t.Errorf("outside (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(oldHoldings, holdings(next)); diff != "" {
				t.Errorf("holdings moved (-before +after):\n%s", diff)
			}
			for _, s := range tt.steps {
				s(t, next)
			}
			// The old allocator is a separate, untouched copy.
			usage(oldUsage...)(t, a)
			if diff := cmp.Diff(oldHoldings, holdings(a)); diff != "" {
				t.Errorf("old allocator changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRepoolRefusesInvalidPools(t *testing.T) {
	a, err := NewAllocator(namedPool(t, "a", "10.0.0.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	reserves("10.0.0.3", "ns/x")(t, a)
	next, outside, err := a.Repool(namedPool(t, "a", "10.0.0.0/24"), namedPool(t, "b", "10.0.0.128/25"))
	checkErr(t, err, nil, `pool "a" range 10.0.0.0/24 overlaps pool "b" range 10.0.0.128/25`)
	if next != nil || outside != nil {
		t.Errorf("Repool gave %v, %v with its error", next, outside)
	}
	heldBy("10.0.0.3", "ns/x")(t, a)
	allocates("a", "ns/y", "10.0.0.1")(t, a)
	usage(PoolUsage{"a", 6, 2})(t, a)
}

func TestHoldingsStopsEarly(t *testing.T) {
	a := heldPool(t, "10.0.0.0/24", false, 10, 1)
	n := 0
	for range a.Holdings {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("iterated %d times, want 3", n)
	}
	if got := len(holdings(a)); got != 10 {
		t.Errorf("Holdings yielded %d addresses, want 10", got)
	}
}

// holdings collects a's holdings as text, for diffs.
func holdings(a *Allocator) map[string]string {
	out := map[string]string{}
	for ip, h := range a.Holdings {
		out[ip.String()] = h
	}
	return out
}

func addrTexts(as []netip.Addr) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// TestRepoolMatchesReserving checks Repool against the slow way to the same
// end: a new allocator given every holding with Reserve.
func TestRepoolMatchesReserving(t *testing.T) {
	base := modelPools(t)
	poolSets := map[string][]Pool{
		"same":            base,
		"reordered":       {base[2], base[0], base[1]},
		"avoid flipped":   {avoiding(base[0]), {Name: "b", Ranges: base[1].Ranges}, base[2]},
		"shrunk":          {namedPool(t, "a", "10.0.0.0/30")},
		"merged and wide": {namedPool(t, "all", "10.0.0.0/21")},
		"none":            nil,
	}
	addrs := modelAddrs(t)
	for seed := range uint64(10) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		a, err := NewAllocator(base...)
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			_ = a.Reserve(addrs[rnd.IntN(len(addrs))], fmt.Sprintf("h%d", rnd.IntN(3)))
		}
		for name, pools := range poolSets {
			t.Run(fmt.Sprintf("%d/%s", seed, name), func(t *testing.T) {
				got, outside, err := a.Repool(pools...)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := NewAllocator(pools...)
				var wantOutside []string
				for ip, h := range a.Holdings {
					if err := want.Reserve(ip, h); err != nil {
						t.Fatal(err)
					}
					if _, ok := want.PoolOf(ip); !ok {
						wantOutside = append(wantOutside, ip.String())
					}
				}
				slices.SortFunc(wantOutside, func(x, y string) int { return netip.MustParseAddr(x).Compare(netip.MustParseAddr(y)) })
				if diff := cmp.Diff(want.Usage(), got.Usage()); diff != "" {
					t.Errorf("Usage (-reserving +repooled):\n%s", diff)
				}
				if diff := cmp.Diff(holdings(want), holdings(got)); diff != "" {
					t.Errorf("holdings (-reserving +repooled):\n%s", diff)
				}
				if diff := cmp.Diff(wantOutside, addrTexts(outside)); diff != "" {
					t.Errorf("outside (-want +got):\n%s", diff)
				}
				// Both hand out the same addresses from here on.
				for _, p := range pools {
					for {
						w, werr := want.Allocate(p.Name, "next")
						g, gerr := got.Allocate(p.Name, "next")
						if w != g || (werr == nil) != (gerr == nil) {
							t.Fatalf("Allocate(%q) = %v, %v; reserving gives %v, %v", p.Name, g, gerr, w, werr)
						}
						if werr != nil {
							break
						}
					}
				}
			})
		}
	}
}

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

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rng(first, last string) Range { return Range{ip(first), ip(last)} }

// texts shows ranges as first-last, never as inferred CIDRs, for diffs.
func texts(rs []Range) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.First.String()+"-"+r.Last.String())
	}
	return out
}

func mustRanges(t testing.TB, spec string) []Range {
	t.Helper()
	rs, _, err := ParseRanges(spec)
	if err != nil {
		t.Fatalf("ParseRanges(%q): %v", spec, err)
	}
	return rs
}

func namedPool(t testing.TB, name, spec string) Pool {
	return Pool{Name: name, Ranges: mustRanges(t, spec)}
}

func avoiding(p Pool) Pool {
	p.AvoidBuggyIPs = true
	return p
}

// checkErr fails unless err contains every fragment and matches is (when set);
// no fragments and no is means no error is wanted.
func checkErr(t testing.TB, err error, is error, fragments ...string) {
	t.Helper()
	if len(fragments) == 0 && is == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error; want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not match %v", err, is)
	}
}
