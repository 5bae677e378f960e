package ipam

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// model is a naive allocator and its caller: it lists every address a pool
// hands out, and keeps the set of addresses the caller holds, which is all an
// allocator's state should follow from.
type model struct {
	pools []Pool
	*layout
	held    map[netip.Addr]bool // what the caller has taken, slot or not
	inUse   map[string]uint64   // held slots per pool
	layouts map[string]*layout  // by pool set, so that repooling back is cheap
}

// layout lists the slots of a set of pools.
type layout struct {
	usable map[string][]netip.Addr // each pool's slots, in address order
	slotOf map[netip.Addr]string   // the pool of each slot
}

func newLayout(pools []Pool) *layout {
	l := &layout{usable: map[string][]netip.Addr{}, slotOf: map[netip.Addr]string{}}
	for _, p := range pools {
		for _, r := range p.Ranges {
			for a := r.First; r.Contains(a); a = a.Next() {
				if b := a.As4()[3]; !p.AvoidBuggyIPs || (b != 0 && b != 255) {
					l.usable[p.Name] = append(l.usable[p.Name], a)
					l.slotOf[a] = p.Name
				}
			}
		}
		slices.SortFunc(l.usable[p.Name], netip.Addr.Compare)
	}
	return l
}

func newModel(pools []Pool) *model {
	m := &model{held: map[netip.Addr]bool{}, layouts: map[string]*layout{}}
	m.repool(pools)
	return m
}

// repool moves the model to new pools: the caller keeps everything it holds.
func (m *model) repool(pools []Pool) {
	key := fmt.Sprint(pools)
	if m.layouts[key] == nil {
		m.layouts[key] = newLayout(pools)
	}
	m.pools, m.layout, m.inUse = pools, m.layouts[key], map[string]uint64{}
	for a := range m.held {
		if p, ok := m.slotOf[a]; ok {
			m.inUse[p]++
		}
	}
}

// taken says whether the allocator should count a taken: held, with a slot.
func (m *model) taken(a netip.Addr) bool {
	_, slot := m.slotOf[a]
	return slot && m.held[a]
}

func (m *model) allocate(p Pool) (netip.Addr, error) {
	for _, a := range m.usable[p.Name] {
		if !m.held[a] {
			m.held[a] = true
			m.inUse[p.Name]++
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in %s (%d of %d in use)", ErrExhausted,
		FormatRanges(p.Ranges), m.inUse[p.Name], len(m.usable[p.Name]))
}

func (m *model) take(a netip.Addr) error {
	if m.taken(a) {
		return fmt.Errorf("%w: %s", ErrInUse, a)
	}
	if p, ok := m.slotOf[a]; ok {
		m.inUse[p]++
	}
	m.held[a] = true
	return nil
}

func (m *model) free(a netip.Addr) {
	if p, ok := m.slotOf[a]; ok && m.held[a] {
		m.inUse[p]--
	}
	delete(m.held, a)
}

// poolOf names the pool whose ranges contain a, slot or not.
func (m *model) poolOf(a netip.Addr) (string, bool) {
	for _, p := range m.pools {
		if slices.ContainsFunc(p.Ranges, func(r Range) bool { return r.Contains(a) }) {
			return p.Name, true
		}
	}
	return "", false
}

func (m *model) usage() []PoolUsage {
	out := []PoolUsage{}
	for _, p := range m.pools {
		out = append(out, PoolUsage{p.Name, uint64(len(m.usable[p.Name])), m.inUse[p.Name]})
	}
	return out
}

// modelPools are small but have every awkward shape: several ranges out of
// order, /24 boundaries, skipped .0/.255, and a pool with nothing to give.
func modelPools(t testing.TB) []Pool {
	return []Pool{
		namedPool(t, "a", "10.0.0.250-10.0.1.3, 10.0.0.0/29"),
		avoiding(namedPool(t, "b", "10.0.2.252-10.0.3.3, 10.0.3.255/32")),
		avoiding(namedPool(t, "c", "10.0.4.0/32")),
	}
}

// repoolSets are pool edits of modelPools: the same, reordered, with avoid
// buggy flipped, shrunk, merged into one wide pool, and none at all.
func repoolSets(t testing.TB) map[string][]Pool {
	base := modelPools(t)
	return map[string][]Pool{
		"same":            base,
		"reordered":       {base[2], base[0], base[1]},
		"avoid flipped":   {avoiding(base[0]), {Name: "b", Ranges: base[1].Ranges}, base[2]},
		"shrunk":          {namedPool(t, "a", "10.0.0.0/30")},
		"merged and wide": {namedPool(t, "all", "10.0.0.0/21")},
		"none":            nil,
	}
}

// modelAddrs are the pools' addresses, their neighbours and one far away.
func modelAddrs(t testing.TB) []netip.Addr {
	var out []netip.Addr
	for _, spec := range []string{"10.0.0.0-10.0.0.8", "10.0.0.248-10.0.1.4", "10.0.2.250-10.0.3.5", "10.0.3.254-10.0.4.1", "192.168.0.1"} {
		r := mustRanges(t, spec)[0]
		for a := r.First; r.Contains(a); a = a.Next() {
			out = append(out, a)
		}
	}
	return out
}

// maxOps bounds a sequence, so that the fuzzer's long inputs stay quick.
const maxOps = 1024

// runModel applies ops, two bytes each, to an allocator and the model and
// fails at the first difference. The first byte picks the operation, the
// second its pool, address or pool edit. After each op it compares usage and
// the taken state of modelAddrs and of the address the op touched; after a
// Repool and at the end, of every address held.
func runModel(t *testing.T, ops []byte) {
	ops = ops[:min(len(ops), 2*maxOps)]
	pools, addrs := modelPools(t), modelAddrs(t)
	edits := repoolSets(t)
	editNames := slices.Sorted(maps.Keys(edits))
	a, err := NewAllocator(pools...)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(pools)
	for i := 0; i+1 < len(ops); i += 2 {
		target := addrs[int(ops[i+1])%len(addrs)]
		var desc string
		touched, all := target, false
		switch ops[i] % 4 {
		case 0:
			if len(m.pools) == 0 {
				desc = `Allocate("")`
				got, err := a.Allocate("")
				sameResult(t, desc, got, err, netip.Addr{}, fmt.Errorf("%w: no pools are configured", ErrUnknownPool))
				continue
			}
			p := m.pools[int(ops[i+1])%len(m.pools)]
			desc = fmt.Sprintf("Allocate(%q)", p.Name)
			got, err := a.Allocate(p.Name)
			if err == nil && m.held[got] {
				t.Fatalf("op %d: %s = %s, which is taken", i/2, desc, got)
			}
			if pool, _ := a.PoolOf(got); err == nil && pool != p.Name {
				t.Fatalf("op %d: %s = %s, which is in pool %q", i/2, desc, got, pool)
			}
			want, wantErr := m.allocate(p)
			sameResult(t, desc, got, err, want, wantErr)
			touched = got
		case 1:
			desc = fmt.Sprintf("Take(%s)", target)
			sameResult(t, desc, 0, a.Take(target), 0, m.take(target))
			// Taking again conflicts exactly when the address has a slot.
			again, want := a.Take(target), error(nil)
			if m.taken(target) {
				want = fmt.Errorf("%w: %s", ErrInUse, target)
			}
			sameResult(t, desc+" again", 0, again, 0, want)
		case 2:
			desc = fmt.Sprintf("Free(%s)", target)
			a.Free(target)
			a.Free(target) // idempotent
			// A freed address can be taken and freed again, ending where it began.
			if err := a.Take(target); err != nil {
				t.Fatalf("op %d: Take(%s) after Free: %v", i/2, target, err)
			}
			a.Free(target)
			m.free(target)
		case 3:
			name := editNames[int(ops[i+1])%len(editNames)]
			desc = fmt.Sprintf("Repool(held, %s)", name)
			next, err := Repool(slices.Collect(maps.Keys(m.held)), edits[name]...)
			if err != nil {
				t.Fatalf("op %d: %s: %v", i/2, desc, err)
			}
			a, all = next, true
			m.repool(edits[name])
			// The caller finds what fell outside every pool with PoolOf.
			for x := range m.held {
				wantPool, wantOK := m.poolOf(x)
				if pool, ok := a.PoolOf(x); pool != wantPool || ok != wantOK {
					t.Fatalf("op %d: %s: PoolOf(%s) = %q, %v; model says %q, %v", i/2, desc, x, pool, ok, wantPool, wantOK)
				}
			}
		}
		if want, got := m.usage(), a.Usage(); !slices.Equal(want, got) {
			t.Fatalf("after op %d %s: Usage() (-model +got):\n%s", i/2, desc, cmp.Diff(want, got))
		}
		check := append(slices.Clip(addrs), touched)
		if all {
			check = slices.Concat(addrs, slices.Collect(maps.Keys(m.held)))
		}
		sameTaken(t, fmt.Sprintf("after op %d %s", i/2, desc), a, m, check)
	}
	sameTaken(t, "at the end", a, m, slices.Collect(maps.Keys(m.held)))
}

func sameTaken(t *testing.T, when string, a *Allocator, m *model, check []netip.Addr) {
	t.Helper()
	for _, x := range check {
		if got, want := isTaken(a, x), m.taken(x); got != want {
			t.Fatalf("%s: %s taken = %v, model says %v", when, x, got, want)
		}
	}
}

func sameResult[T comparable](t *testing.T, desc string, got T, err error, want T, wantErr error) {
	t.Helper()
	if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) || !errors.Is(err, errors.Unwrap(wantErr)) {
		t.Fatalf("%s = %v, %v; model says %v, %v", desc, got, err, want, wantErr)
	}
}

func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 2, 5, 0, 0})
	f.Add([]byte{1, 20, 1, 20, 2, 20, 5, 20, 0, 1, 0, 1, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 12, 3, 3, 0, 0, 3, 1, 0, 0, 2, 12, 3, 4, 0, 1})
	f.Fuzz(runModel)
}

// TestAllocatorMatchesModel runs long random op sequences so that plain
// `go test` covers more than the fuzz seeds.
func TestAllocatorMatchesModel(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 0))
		ops := make([]byte, 2000)
		for i := range ops {
			ops[i] = byte(rnd.UintN(256))
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, ops) })
	}
}

func FuzzParseRanges(f *testing.F) {
	for _, seed := range []string{
		"10.0.0.0/24", "10.210.38.100/26", "10.0.0.0/31, 10.0.0.2/32", "10.0.0.1-10.0.0.9, 10.0.1.0/30",
		"0.0.0.0/0", "255.255.255.255", "2001:db8::/64", "::ffff:10.0.0.1", "10.0.0.9-10.0.0.1", ",",
		"10.0.0.0/24, 10.0.0.128/25", " 10.0.0.1 - 10.0.0.2 ", "1.2.3.4/-1", "1-2-3",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ranges, _, err := ParseRanges(spec)
		if err != nil {
			if ranges != nil {
				t.Fatalf("ranges %v returned with error %v", texts(ranges), err)
			}
			return
		}
		if len(ranges) == 0 {
			t.Fatal("no ranges and no error")
		}
		for i, r := range ranges {
			if !r.First.Is4() || !r.Last.Is4() || r.First.Compare(r.Last) > 0 {
				t.Fatalf("bad range %v", texts([]Range{r}))
			}
			for _, o := range ranges[:i] {
				if r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0 {
					t.Fatalf("ranges %v overlap", texts([]Range{o, r}))
				}
			}
			back, warnings, err := ParseRanges(r.String())
			if err != nil || len(warnings) > 0 || len(back) != 1 || back[0] != r {
				t.Fatalf("%v does not round-trip via %q: %v, %v, %v", texts([]Range{r}), r, texts(back), warnings, err)
			}
		}
	})
}
