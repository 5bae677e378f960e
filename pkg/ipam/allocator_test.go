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

func allocates(pool, want string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, err := a.Allocate(pool)
		if err != nil || got != ip(want) {
			t.Fatalf("Allocate(%q) = %v, %v; want %s", pool, got, err, want)
		}
	}
}

func allocateFails(pool string, is error, msg string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		got, err := a.Allocate(pool)
		if err == nil || err.Error() != msg || !errors.Is(err, is) {
			t.Fatalf("Allocate(%q) = %v, %v; want error %q matching %v", pool, got, err, msg, is)
		}
	}
}

func takes(addrs ...string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		for _, x := range addrs {
			if err := a.Take(ip(x)); err != nil {
				t.Fatalf("Take(%s): %v", x, err)
			}
		}
	}
}

func takeFails(addr string, is error, msg string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		err := a.Take(ip(addr))
		if err == nil || err.Error() != msg || !errors.Is(err, is) {
			t.Fatalf("Take(%s) = %v; want error %q matching %v", addr, err, msg, is)
		}
	}
}

func frees(addrs ...string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		for _, x := range addrs {
			a.Free(ip(x))
		}
	}
}

// taken checks that each address's slot is taken.
func taken(addrs ...string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		for _, x := range addrs {
			if !isTaken(a, ip(x)) {
				t.Fatalf("%s is not taken", x)
			}
		}
	}
}

// untaken checks that no address is taken: it is free, or has no slot.
func untaken(addrs ...string) step {
	return func(t *testing.T, a *Allocator) {
		t.Helper()
		for _, x := range addrs {
			if isTaken(a, ip(x)) {
				t.Fatalf("%s is taken", x)
			}
		}
	}
}

// isTaken reports whether ip has a slot and the slot is taken.
func isTaken(a *Allocator, ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	s, slot, ok := a.slotOf(u32(ip))
	return ok && s.used.has(slot)
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
			allocates("a", "10.0.0.1"),
			allocates("a", "10.0.0.2"),
			allocates("", "10.0.0.3"),
			taken("10.0.0.1", "10.0.0.2", "10.0.0.3"),
			untaken("10.0.0.4"),
			usage(PoolUsage{"a", 6, 3}),
		}},
		{"skips taken addresses", []Pool{p29}, []step{
			takes("10.0.0.1", "10.0.0.3"),
			allocates("a", "10.0.0.2"),
			allocates("a", "10.0.0.4"),
			taken("10.0.0.3"),
		}},
		{"exhaustion names the pool and counts", []Pool{p29}, []step{
			takes("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"),
			allocateFails("a", ErrExhausted, "no free address in 10.0.0.0/29 (6 of 6 in use)"),
			frees("10.0.0.4"),
			allocates("a", "10.0.0.4"),
		}},
		{"exhaustion lists every range", []Pool{namedPool(t, "a", "10.0.1.5-10.0.1.7, 10.0.0.0/30")}, []step{
			allocates("a", "10.0.0.1"), allocates("a", "10.0.0.2"), allocates("a", "10.0.1.5"),
			allocates("a", "10.0.1.6"), allocates("a", "10.0.1.7"),
			allocateFails("a", ErrExhausted, "no free address in 10.0.1.5-10.0.1.7, 10.0.0.0/30 (5 of 5 in use)"),
		}},
		{"take of a taken slot is in use", []Pool{p29}, []step{
			takes("10.0.0.5"),
			takeFails("10.0.0.5", ErrInUse, "address in use: 10.0.0.5"),
			allocates("a", "10.0.0.1"),
			takeFails("10.0.0.1", ErrInUse, "address in use: 10.0.0.1"),
			taken("10.0.0.1", "10.0.0.5"),
			usage(PoolUsage{"a", 6, 2}), // a refused Take counts nothing
			frees("10.0.0.5"),
			takes("10.0.0.5"), // free and take again: a round trip
			usage(PoolUsage{"a", 6, 2}),
		}},
		{"take and free outside every pool change nothing", []Pool{p29}, []step{
			takes("192.168.1.1", "192.168.1.1"), // no slot, so never in use
			untaken("192.168.1.1"),
			inPool("192.168.1.1", ""),
			takes("10.0.0.7", "10.0.0.0"), // the /29's broadcast and network: outside its hosts
			inPool("10.0.0.7", ""),
			usage(PoolUsage{"a", 6, 0}),
			allocates("a", "10.0.0.1"),
			frees("192.168.1.1", "10.0.0.7", "10.0.0.0"),
			taken("10.0.0.1"),
			usage(PoolUsage{"a", 6, 1}),
			allocates("a", "10.0.0.2"),
		}},
		{"free is idempotent", []Pool{p29}, []step{
			allocates("a", "10.0.0.1"),
			frees("10.0.0.2"), // never taken
			usage(PoolUsage{"a", 6, 1}),
			frees("10.0.0.1", "10.0.0.1"),
			untaken("10.0.0.1"),
			usage(PoolUsage{"a", 6, 0}),
			allocates("a", "10.0.0.1"),
		}},
		{"freed addresses are reused lowest first", []Pool{p29}, []step{
			allocates("a", "10.0.0.1"), allocates("a", "10.0.0.2"),
			allocates("a", "10.0.0.3"), allocates("a", "10.0.0.4"),
			frees("10.0.0.3", "10.0.0.2"),
			allocates("a", "10.0.0.2"),
			allocates("a", "10.0.0.3"),
			allocates("a", "10.0.0.5"),
		}},
		{"avoid buggy skips .0 and .255", []Pool{avoiding(namedPool(t, "a", "10.0.0.253-10.0.1.1"))}, []step{
			usage(PoolUsage{"a", 3, 0}),
			allocates("a", "10.0.0.253"),
			allocates("a", "10.0.0.254"),
			allocates("a", "10.0.1.1"),
			allocateFails("a", ErrExhausted, "no free address in 10.0.0.253-10.0.1.1 (3 of 3 in use)"),
		}},
		{"avoid buggy lets .0 and .255 be taken, with no slot", []Pool{avoiding(namedPool(t, "a", "10.0.0.254-10.0.1.1"))}, []step{
			takes("10.0.0.255", "10.0.0.255"), // no slot: taking twice is no conflict
			inPool("10.0.0.255", "a"),
			untaken("10.0.0.255"),
			usage(PoolUsage{"a", 2, 0}),
			takes("10.0.1.0"),
			allocates("a", "10.0.0.254"),
			allocates("a", "10.0.1.1"),
			frees("10.0.0.255"),
			usage(PoolUsage{"a", 2, 2}),
			allocateFails("a", ErrExhausted, "no free address in 10.0.0.254-10.0.1.1 (2 of 2 in use)"),
		}},
		{"avoid buggy pool with nothing to give", []Pool{avoiding(namedPool(t, "a", "10.0.0.255/32"))}, []step{
			usage(PoolUsage{"a", 0, 0}),
			allocateFails("a", ErrExhausted, "no free address in 10.0.0.255/32 (0 of 0 in use)"),
		}},
		{"without avoid buggy .0 and .255 are handed out", []Pool{namedPool(t, "a", "10.0.0.255-10.0.1.0")}, []step{
			allocates("a", "10.0.0.255"),
			allocates("a", "10.0.1.0"),
			takeFails("10.0.1.0", ErrInUse, "address in use: 10.0.1.0"),
		}},
		{"ranges are used in address order", []Pool{namedPool(t, "a", "10.0.2.0/31, 10.0.1.0/31")}, []step{
			allocates("a", "10.0.1.0"), allocates("a", "10.0.1.1"),
			allocates("a", "10.0.2.0"), allocates("a", "10.0.2.1"),
		}},
		{"several pools", []Pool{p29, namedPool(t, "b", "10.0.1.0/30"), avoiding(namedPool(t, "c", "10.0.2.255-10.0.3.1"))}, []step{
			allocates("b", "10.0.1.1"),
			allocates("", "10.0.0.1"),
			allocates("c", "10.0.3.1"),
			allocates("b", "10.0.1.2"),
			allocateFails("b", ErrExhausted, "no free address in 10.0.1.0/30 (2 of 2 in use)"),
			allocates("a", "10.0.0.2"),
			inPool("10.0.0.6", "a"), inPool("10.0.1.2", "b"), inPool("10.0.2.255", "c"), inPool("10.0.3.0", "c"),
			inPool("10.0.1.3", ""),
			usage(PoolUsage{"a", 6, 2}, PoolUsage{"b", 2, 2}, PoolUsage{"c", 1, 1}),
		}},
		{"unknown pool", []Pool{p29}, []step{
			allocateFails("nope", ErrUnknownPool, `unknown pool "nope"`),
		}},
		{"no pools", nil, []step{
			allocateFails("", ErrUnknownPool, "unknown pool: no pools are configured"),
			takes("10.0.0.1", "10.0.0.1"),
			untaken("10.0.0.1"),
			frees("10.0.0.1"),
			usage([]PoolUsage{}...),
		}},
		{"not IPv4", []Pool{p29}, []step{
			takeFails("2001:db8::1", ErrNotIPv4, "cannot take 2001:db8::1: not an IPv4 address"),
			takeFails("::ffff:10.0.0.1", ErrNotIPv4, "cannot take ::ffff:10.0.0.1: not an IPv4 address"),
			frees("2001:db8::1", "::ffff:10.0.0.1"),
			untaken("2001:db8::1"),
			inPool("::ffff:10.0.0.1", ""),
			usage(PoolUsage{"a", 6, 0}),
		}},
		{"top and bottom of the address space", []Pool{namedPool(t, "hi", "255.255.255.254/31"), namedPool(t, "lo", "0.0.0.0/31")}, []step{
			allocates("hi", "255.255.255.254"), allocates("hi", "255.255.255.255"),
			allocateFails("hi", ErrExhausted, "no free address in 255.255.255.254/31 (2 of 2 in use)"),
			takeFails("255.255.255.255", ErrInUse, "address in use: 255.255.255.255"),
			allocates("lo", "0.0.0.0"), allocates("lo", "0.0.0.1"),
			frees("255.255.255.255"),
			allocates("hi", "255.255.255.255"),
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
	allocates("a", "10.0.0.1")(t, a)
	allocates("a", "10.0.0.2")(t, a)
	allocateFails("a", ErrExhausted, "no free address in 10.0.0.0/30 (2 of 2 in use)")(t, a)
}

// TestLargePool checks the answers, not the speed, with many addresses taken.
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
			a := takenPool(t, "10.0.0.0/8", false, 100_000, tt.stride)
			allocates("", tt.want)(t, a)
			usage(PoolUsage{"p", 1<<24 - 2, 100_001})(t, a)
			frees(tt.want, "10.0.0.1")(t, a)
			allocates("", "10.0.0.1")(t, a)
			usage(PoolUsage{"p", 1<<24 - 2, 100_000})(t, a)
		})
	}
}

// takenPool makes an allocator over one pool "p" with n addresses taken, one
// every stride addresses from the pool's first.
func takenPool(t testing.TB, spec string, avoid bool, n int, stride uint32) *Allocator {
	t.Helper()
	a, err := NewAllocator(Pool{Name: "p", Ranges: mustRanges(t, spec), AvoidBuggyIPs: avoid})
	if err != nil {
		t.Fatal(err)
	}
	first := u32(a.pools[0].Ranges[0].First)
	for i := range uint32(n) {
		if err := a.Take(addr(first + i*stride)); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// strided is n addresses, one every stride addresses from first.
func strided(first uint32, n int, stride uint32) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = addr(first + uint32(i)*stride)
	}
	return out
}

func TestRepool(t *testing.T) {
	tests := []struct {
		name    string
		taken   []string // what the caller holds, in no order, maybe repeated
		after   []Pool
		outside []string // the taken addresses in no new pool
		steps   []step   // run on the new allocator
	}{
		{
			name:  "grow keeps addresses and hands out the new room",
			taken: []string{"10.0.0.1", "10.0.0.2"}, // from 10.0.0.0/30
			after: []Pool{namedPool(t, "a", "10.0.0.0/29")},
			steps: []step{
				taken("10.0.0.1", "10.0.0.2"),
				usage(PoolUsage{"a", 6, 2}),
				allocates("a", "10.0.0.3"),
			},
		},
		{
			name:    "shrink keeps addresses that fall out, outside every pool",
			taken:   []string{"10.0.0.2", "10.0.0.6", "10.0.0.5"}, // from 10.0.0.0/29
			after:   []Pool{namedPool(t, "a", "10.0.0.0/30")},
			outside: []string{"10.0.0.5", "10.0.0.6"},
			steps: []step{
				taken("10.0.0.2"), inPool("10.0.0.6", ""),
				usage(PoolUsage{"a", 2, 1}),
				allocates("a", "10.0.0.1"),
				allocateFails("a", ErrExhausted, "no free address in 10.0.0.0/30 (2 of 2 in use)"),
				takeFails("10.0.0.2", ErrInUse, "address in use: 10.0.0.2"),
				takes("10.0.0.6"), // outside: the caller's to refuse, not ours
				usage(PoolUsage{"a", 2, 2}),
			},
		},
		{
			name:  "rename and split move counts to the new pools",
			taken: []string{"10.0.0.201", "10.0.0.10", "10.0.0.200"}, // from "old" 10.0.0.0/24
			after: []Pool{namedPool(t, "low", "10.0.0.0-10.0.0.127"), namedPool(t, "high", "10.0.0.128-10.0.0.255")},
			steps: []step{
				inPool("10.0.0.10", "low"), inPool("10.0.0.200", "high"),
				usage(PoolUsage{"low", 128, 1}, PoolUsage{"high", 128, 2}),
				allocateFails("old", ErrUnknownPool, `unknown pool "old"`),
				allocates("high", "10.0.0.128"),
				allocates("high", "10.0.0.129"),
				allocates("high", "10.0.0.130"),
				allocates("high", "10.0.0.131"),
			},
		},
		{
			name:    "addresses taken outside every pool stay outside",
			taken:   []string{"192.168.0.1"},
			after:   []Pool{namedPool(t, "a", "10.0.0.0/29")},
			outside: []string{"192.168.0.1"},
			steps:   []step{untaken("192.168.0.1"), usage(PoolUsage{"a", 6, 0})},
		},
		{
			name:  "an address outside before may fall in a new pool",
			taken: []string{"10.0.1.1"}, // outside 10.0.0.0/30
			after: []Pool{namedPool(t, "a", "10.0.0.0/30"), namedPool(t, "b", "10.0.1.0/30")},
			steps: []step{
				taken("10.0.1.1"),
				usage(PoolUsage{"a", 2, 0}, PoolUsage{"b", 2, 1}),
				allocates("b", "10.0.1.2"),
			},
		},
		{
			name:  "turning on avoid buggy keeps a taken .0 in the pool but stops counting it",
			taken: []string{"10.0.0.255", "10.0.1.0"}, // allocated from 10.0.0.255-10.0.1.1
			after: []Pool{avoiding(namedPool(t, "a", "10.0.0.255-10.0.1.1"))},
			steps: []step{
				inPool("10.0.1.0", "a"), untaken("10.0.0.255", "10.0.1.0"),
				usage(PoolUsage{"a", 1, 0}),
				allocates("a", "10.0.1.1"),
				frees("10.0.1.0"),
				usage(PoolUsage{"a", 1, 1}),
				allocateFails("a", ErrExhausted, "no free address in 10.0.0.255-10.0.1.1 (1 of 1 in use)"),
			},
		},
		{
			name:  "turning off avoid buggy counts a taken .0 again",
			taken: []string{"10.0.1.0"}, // taken in an avoiding 10.0.0.255-10.0.1.1
			after: []Pool{namedPool(t, "a", "10.0.0.255-10.0.1.1")},
			steps: []step{
				taken("10.0.1.0"),
				usage(PoolUsage{"a", 3, 1}),
				allocates("a", "10.0.0.255"),
				allocates("a", "10.0.1.1"),
			},
		},
		{
			name:    "repeats and disorder count once",
			taken:   []string{"10.0.0.3", "10.0.0.1", "10.0.0.3", "192.168.0.1", "10.0.0.2", "192.168.0.1", "10.0.0.1"},
			after:   []Pool{namedPool(t, "a", "10.0.0.0/29")},
			outside: []string{"192.168.0.1"},
			steps: []step{
				usage(PoolUsage{"a", 6, 3}),
				allocates("a", "10.0.0.4"),
			},
		},
		{
			name:    "addresses outside the new pools, in disorder, count nowhere",
			taken:   []string{"192.168.0.1", "10.0.1.9", "10.0.0.1", "172.16.0.1", "10.0.0.9"},
			after:   []Pool{namedPool(t, "a", "10.0.0.0/29")},
			outside: []string{"10.0.0.9", "10.0.1.9", "172.16.0.1", "192.168.0.1"},
			steps:   []step{taken("10.0.0.1"), usage(PoolUsage{"a", 6, 1})},
		},
		{
			name:    "no pools at all leaves every address outside",
			taken:   []string{"10.0.0.1"},
			outside: []string{"10.0.0.1"},
			steps:   []step{untaken("10.0.0.1"), usage([]PoolUsage{}...)},
		},
		{
			name:  "nothing taken",
			after: []Pool{namedPool(t, "a", "10.0.0.0/29")},
			steps: []step{usage(PoolUsage{"a", 6, 0}), allocates("a", "10.0.0.1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := addrs(tt.taken...)
			kept := slices.Clone(in)
			next, err := Repool(in, tt.after...)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range in {
				if _, ok := next.PoolOf(x); ok == slices.Contains(tt.outside, x.String()) {
					t.Errorf("PoolOf(%s) ok = %v, want %v", x, ok, !ok)
				}
			}
			if !slices.Equal(kept, in) {
				t.Errorf("Repool changed its argument: %v, was %v", in, kept)
			}
			for _, s := range tt.steps {
				s(t, next)
			}
		})
	}
}

func TestRepoolRefusesInvalidPools(t *testing.T) {
	next, err := Repool(addrs("10.0.0.3"), namedPool(t, "a", "10.0.0.0/24"), namedPool(t, "b", "10.0.0.128/25"))
	checkErr(t, err, nil, `pool "a" range 10.0.0.0/24 overlaps pool "b" range 10.0.0.128/25`)
	if next != nil {
		t.Errorf("Repool gave %v with its error", next)
	}
}

func addrs(texts ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range texts {
		out = append(out, ip(s))
	}
	return out
}

// TestRepoolMatchesTaking checks Repool against the slow way to the same end:
// a new allocator given every address with Take.
func TestRepoolMatchesTaking(t *testing.T) {
	all := modelAddrs(t)
	for seed := range uint64(10) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var held []netip.Addr // with repeats, in no order
		for range 40 {
			held = append(held, all[rnd.IntN(len(all))])
		}
		for name, pools := range repoolSets(t) {
			t.Run(fmt.Sprintf("%d/%s", seed, name), func(t *testing.T) {
				got, err := Repool(held, pools...)
				if err != nil {
					t.Fatal(err)
				}
				want, err := NewAllocator(pools...)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[netip.Addr]bool{}
				for _, x := range held {
					if seen[x] {
						continue
					}
					seen[x] = true
					if err := want.Take(x); err != nil {
						t.Fatal(err)
					}
				}
				if diff := cmp.Diff(want.Usage(), got.Usage()); diff != "" {
					t.Errorf("Usage (-taking +repooled):\n%s", diff)
				}
				for _, x := range all {
					if w, g := isTaken(want, x), isTaken(got, x); w != g {
						t.Errorf("%s taken: %v after taking, %v after repooling", x, w, g)
					}
				}
				// Both hand out the same addresses from here on.
				for _, p := range pools {
					for {
						w, werr := want.Allocate(p.Name)
						g, gerr := got.Allocate(p.Name)
						if w != g || (werr == nil) != (gerr == nil) {
							t.Fatalf("Allocate(%q) = %v, %v; taking gives %v, %v", p.Name, g, gerr, w, werr)
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
