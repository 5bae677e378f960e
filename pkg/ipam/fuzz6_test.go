package ipam

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dualModel is a naive DualStack allocator and its caller. It keeps only the
// pools and the set of addresses held, and answers every question from them
// by looking at addresses one at a time: the lowest free address is found by
// stepping from a range's first address past the held ones, which ends after
// at most as many steps as there are held addresses, however wide the range.
type dualModel struct {
	pools []Pool
	held  map[netip.Addr]bool
	sizes map[string]*big.Int   // size's answers, by pool and family, for these pools
	slots map[netip.Addr]string // slot's answers for these pools, "" for none
	cache map[string]*dualModel // the answers by pool set, so that repooling back is cheap
}

// setPools moves the model to new pools: the caller keeps everything it holds.
func (m *dualModel) setPools(pools []Pool) {
	key := fmt.Sprint(pools)
	if m.cache[key] == nil {
		m.cache[key] = &dualModel{sizes: map[string]*big.Int{}, slots: map[netip.Addr]string{}}
	}
	m.pools, m.sizes, m.slots = pools, m.cache[key].sizes, m.cache[key].slots
}

// slot names the pool that may hand out a: in one of its ranges, and not a
// .0 or .255 IPv4 address of a pool avoiding those.
func (m *dualModel) slot(a netip.Addr) (string, bool) {
	if pool, ok := m.slots[a]; ok {
		return pool, pool != ""
	}
	pool, ok := m.findSlot(a)
	m.slots[a] = pool
	return pool, ok
}

func (m *dualModel) findSlot(a netip.Addr) (string, bool) {
	for _, p := range m.pools {
		for _, r := range p.Ranges {
			if r.Contains(a) && (a.Is6() || !p.AvoidBuggyIPs || (a.As4()[3] != 0 && a.As4()[3] != 255)) {
				return p.Name, true
			}
		}
	}
	return "", false
}

func (m *dualModel) poolOf(a netip.Addr) (string, bool) {
	for _, p := range m.pools {
		if slices.ContainsFunc(p.Ranges, func(r Range) bool { return r.Contains(a) }) {
			return p.Name, true
		}
	}
	return "", false
}

// taken says whether the allocator should count a taken: held, with a slot.
func (m *dualModel) taken(a netip.Addr) bool {
	_, slot := m.slot(a)
	return slot && m.held[a]
}

// size counts the slots of p in family f: IPv6 ranges by their ends, as no
// slot is skipped there; IPv4 ones (small here) address by address.
func (m *dualModel) size(p Pool, f Family) *big.Int {
	key := p.Name + "/" + f.String()
	if n, ok := m.sizes[key]; ok {
		return n
	}
	n := new(big.Int)
	m.sizes[key] = n
	for _, r := range p.Ranges {
		switch {
		case FamilyOf(r.First) != f:
		case f == IPv6:
			first, last := new(big.Int).SetBytes(r.First.AsSlice()), new(big.Int).SetBytes(r.Last.AsSlice())
			n.Add(n, last.Sub(last, first).Add(last, big.NewInt(1)))
		default:
			for a := r.First; r.Contains(a); a = a.Next() {
				if _, ok := m.slot(a); ok {
					n.Add(n, big.NewInt(1))
				}
			}
		}
	}
	return n
}

// inUse counts the held slots by pool and family ("name/IPv6").
func (m *dualModel) inUse() map[string]uint64 {
	n := map[string]uint64{}
	for a := range m.held {
		if pool, ok := m.slot(a); ok {
			n[pool+"/"+FamilyOf(a).String()]++
		}
	}
	return n
}

func (m *dualModel) allocate(p Pool, f Family) (netip.Addr, error) {
	rs := rangesOf(p.Ranges, f)
	if len(rs) == 0 {
		return netip.Addr{}, fmt.Errorf("%w: the pool has no %s range, only %s", ErrExhausted, f, FormatRanges(p.Ranges))
	}
	for _, r := range slices.SortedFunc(slices.Values(rs), func(a, b Range) int { return a.First.Compare(b.First) }) {
		for a := r.First; r.Contains(a); a = a.Next() {
			if _, ok := m.slot(a); ok && !m.held[a] {
				m.held[a] = true
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in %s (%d of %s in use)", ErrExhausted, FormatRanges(rs), m.inUse()[p.Name+"/"+f.String()], m.size(p, f))
}

func (m *dualModel) take(a netip.Addr) error {
	if err := DualStack.Check(a); err != nil {
		return fmt.Errorf("cannot take %s: %w", a, err)
	}
	if m.taken(a) {
		return fmt.Errorf("%w: %s", ErrInUse, a)
	}
	m.held[a] = true
	return nil
}

// usage and familyUsage take what inUse gives, counted once per op.
func (m *dualModel) usage(inUse map[string]uint64) []PoolUsage {
	out := []PoolUsage{}
	for _, p := range m.pools {
		size := new(big.Int).Add(m.size(p, IPv4), m.size(p, IPv6))
		u := PoolUsage{p.Name, math.MaxUint64, inUse[p.Name+"/IPv4"] + inUse[p.Name+"/IPv6"]}
		if size.IsUint64() {
			u.Size = size.Uint64()
		}
		out = append(out, u)
	}
	return out
}

func (m *dualModel) familyUsage(inUse map[string]uint64) []famCount {
	var out []famCount
	for _, p := range m.pools {
		for _, f := range []Family{IPv4, IPv6} {
			if p.Has(f) {
				out = append(out, famCount{p.Name, f, m.size(p, f).String(), inUse[p.Name+"/"+f.String()]})
			}
		}
	}
	return out
}

// dualPools have every awkward shape of both families: mixed pools, ranges
// out of order and across the 64-bit boundary, a /127, a /128, avoid buggy
// (which IPv6 ignores), a /48 too big to count in 64 bits, the top of the
// space and an IPv6-only pool beside an IPv4-only one.
func dualPools(t testing.TB) []Pool {
	return []Pool{
		dualPool(t, "a", "fd00:0:0:1::-fd00:0:0:1::1, 10.0.0.250-10.0.1.3, fd00::ffff:ffff:ffff:fffd-fd00::ffff:ffff:ffff:ffff, fd00::/126"),
		avoiding(dualPool(t, "b", "10.0.2.254-10.0.3.1, fd00:b::fe/127, fd00:b::ff:0/128")),
		dualPool(t, "huge", "fd00:1000::/48"),
		dualPool(t, "top", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
		dualPool(t, "v4", "10.0.4.0/30"),
	}
}

// dualEdits are pool edits of dualPools: the same, reordered, shrunk, merged
// into one wide pool, IPv4 only, IPv6 only, and none at all.
func dualEdits(t testing.TB) map[string][]Pool {
	base := dualPools(t)
	return map[string][]Pool{
		"same":            base,
		"reordered":       {base[4], base[2], base[0], base[3], base[1]},
		"shrunk":          {dualPool(t, "a", "fd00::/127"), dualPool(t, "huge", "fd00:1000::/64")},
		"merged and wide": {dualPool(t, "all", "10.0.0.0/21, fd00::/16")},
		"IPv4 only":       {namedPool(t, "a", "10.0.0.0/22")},
		"IPv6 only":       {dualPool(t, "b", "fd00:b::/120"), dualPool(t, "a", "fd00::/64")},
		"none":            nil,
	}
}

// dualAddrs are the pools' edges and their neighbours in both families,
// addresses far away, and some Take must refuse.
func dualAddrs(t testing.TB) []netip.Addr {
	var out []netip.Addr
	for _, p := range dualPools(t) {
		for _, r := range p.Ranges {
			for _, a := range []netip.Addr{r.First.Prev().Prev(), r.First.Prev(), r.First, r.First.Next(), r.Last.Prev(), r.Last, r.Last.Next(), r.Last.Next().Next()} {
				if a.IsValid() && !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	for _, s := range []string{"fd00::ffff:ffff:ffff:fffc", "fd00:0:0:1::2", "fd00:1000:0:ffff:ffff:ffff:ffff:ffff", "2001:db8::1", "192.168.0.1", "::ffff:10.0.0.1", "fd00::1%eth0"} {
		out = append(out, ip(s))
	}
	return out
}

// runDualModel applies ops, two bytes each, to a DualStack allocator and the
// model and fails at the first difference, as runModel does for IPv4: the
// first byte picks the operation, the second its pool, address or edit.
// After each op it compares Usage, FamilyUsage, and the taken state and pool
// of dualAddrs and of the address the op touched; after a Repool and at the
// end, of every address held.
func runDualModel(t *testing.T, ops []byte) {
	ops = ops[:min(len(ops), 2*maxOps)]
	addrs, edits := dualAddrs(t), dualEdits(t)
	editNames := slices.Sorted(maps.Keys(edits))
	a := newDual(t, dualPools(t)...)
	m := &dualModel{held: map[netip.Addr]bool{}, cache: map[string]*dualModel{}}
	m.setPools(dualPools(t))
	for i := 0; i+1 < len(ops); i += 2 {
		target := addrs[int(ops[i+1])%len(addrs)]
		var desc string
		touched, all := target, false
		switch op := ops[i] % 5; op {
		case 0, 1:
			f := []Family{IPv4, IPv6}[op]
			if len(m.pools) == 0 {
				desc = fmt.Sprintf(`AllocateFamily("", %s)`, f)
				got, err := a.AllocateFamily("", f)
				sameResult(t, desc, got, err, netip.Addr{}, fmt.Errorf("%w: no pools are configured", ErrUnknownPool))
				continue
			}
			p := m.pools[int(ops[i+1])%len(m.pools)]
			desc = fmt.Sprintf("AllocateFamily(%q, %s)", p.Name, f)
			got, err := a.AllocateFamily(p.Name, f)
			if err == nil && (m.held[got] || FamilyOf(got) != f) {
				t.Fatalf("op %d: %s = %s, which is taken or of the wrong family", i/2, desc, got)
			}
			want, wantErr := m.allocate(p, f)
			sameResult(t, desc, got, err, want, wantErr)
			touched = got
		case 2:
			desc = fmt.Sprintf("Take(%s)", target)
			got, want := a.Take(target), m.take(target)
			if fmt.Sprint(got) != fmt.Sprint(want) || errors.Is(got, ErrInUse) != errors.Is(want, ErrInUse) ||
				errors.Is(got, ErrNotIPv4) != errors.Is(want, ErrNotIPv4) {
				t.Fatalf("op %d: %s = %v; model says %v", i/2, desc, got, want)
			}
		case 3:
			desc = fmt.Sprintf("Free(%s)", target)
			a.Free(target)
			a.Free(target) // idempotent
			delete(m.held, target)
		case 4:
			name := editNames[int(ops[i+1])%len(editNames)]
			desc = fmt.Sprintf("Repool(held, %s)", name)
			next, err := DualStack.Repool(slices.Collect(maps.Keys(m.held)), edits[name]...)
			if err != nil {
				t.Fatalf("op %d: %s: %v", i/2, desc, err)
			}
			a, all = next, true
			m.setPools(edits[name])
		}
		when := fmt.Sprintf("after op %d %s", i/2, desc)
		inUse := m.inUse()
		if want, got := m.usage(inUse), a.Usage(); !slices.Equal(want, got) {
			t.Fatalf("%s: Usage() (-model +got):\n%s", when, cmp.Diff(want, got))
		}
		if want, got := m.familyUsage(inUse), familyCounts(a.FamilyUsage()); !slices.Equal(want, got) {
			t.Fatalf("%s: FamilyUsage() (-model +got):\n%s", when, cmp.Diff(want, got))
		}
		check := append(slices.Clip(addrs), touched)
		if all {
			check = slices.Concat(addrs, slices.Collect(maps.Keys(m.held)))
		}
		sameDual(t, when, a, m, check)
	}
	sameDual(t, "at the end", a, m, slices.Collect(maps.Keys(m.held)))
}

func sameDual(t *testing.T, when string, a *Allocator, m *dualModel, check []netip.Addr) {
	t.Helper()
	for _, x := range check {
		if got, want := slotTaken(a, x), m.taken(x); got != want {
			t.Fatalf("%s: %s taken = %v, model says %v", when, x, got, want)
		}
		wantPool, wantOK := m.poolOf(x)
		if pool, ok := a.PoolOf(x); pool != wantPool || ok != wantOK {
			t.Fatalf("%s: PoolOf(%s) = %q, %v; model says %q, %v", when, x, pool, ok, wantPool, wantOK)
		}
	}
}

func FuzzDualStackAllocator(f *testing.F) {
	f.Add([]byte{1, 0, 1, 0, 0, 0, 1, 2, 1, 3, 2, 5, 1, 0})
	f.Add([]byte{2, 20, 2, 20, 3, 20, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{1, 0, 1, 0, 1, 0, 1, 0, 4, 4, 1, 0, 4, 3, 1, 0, 0, 0, 4, 0})
	f.Fuzz(runDualModel)
}

// TestDualStackAllocatorMatchesModel runs long random op sequences so that
// plain `go test` covers more than the fuzz seeds.
func TestDualStackAllocatorMatchesModel(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 6))
		ops := make([]byte, 2000)
		for i := range ops {
			ops[i] = byte(rnd.UintN(256))
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runDualModel(t, ops) })
	}
}
