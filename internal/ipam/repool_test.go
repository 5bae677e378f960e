package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
