package ipam

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// model is a naive allocator: it lists every address a pool hands out.
type model struct {
	pools  []Pool
	usable map[string][]netip.Addr
	held   map[netip.Addr]string
}

func newModel(pools []Pool) *model {
	m := &model{pools: pools, usable: map[string][]netip.Addr{}, held: map[netip.Addr]string{}}
	for _, p := range pools {
		for _, r := range p.Ranges {
			for a := r.First; r.Contains(a); a = a.Next() {
				if b := a.As4()[3]; !p.AvoidBuggyIPs || (b != 0 && b != 255) {
					m.usable[p.Name] = append(m.usable[p.Name], a)
				}
			}
		}
		slices.SortFunc(m.usable[p.Name], netip.Addr.Compare)
	}
	return m
}

func (m *model) inUse(pool string) (n uint64) {
	for _, a := range m.usable[pool] {
		if _, ok := m.held[a]; ok {
			n++
		}
	}
	return n
}

func (m *model) allocate(p Pool, holder string) (netip.Addr, error) {
	for _, a := range m.usable[p.Name] {
		if _, ok := m.held[a]; !ok {
			m.held[a] = holder
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in %s (%d of %d in use)", ErrExhausted,
		FormatRanges(p.Ranges), m.inUse(p.Name), len(m.usable[p.Name]))
}

func (m *model) reserve(a netip.Addr, holder string) error {
	if h, ok := m.held[a]; ok && h != holder {
		return &InUseError{a, h}
	}
	m.held[a] = holder
	return nil
}

func (m *model) release(a netip.Addr, holder string) bool {
	if h, ok := m.held[a]; !ok || h != holder {
		return false
	}
	delete(m.held, a)
	return true
}

func (m *model) usage() []PoolUsage {
	var out []PoolUsage
	for _, p := range m.pools {
		out = append(out, PoolUsage{p.Name, uint64(len(m.usable[p.Name])), m.inUse(p.Name)})
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

// runModel applies ops, two bytes each, to an allocator and the model and
// fails at the first difference.
func runModel(t *testing.T, ops []byte) {
	pools, addrs := modelPools(t), modelAddrs(t)
	a, err := NewAllocator(pools...)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(pools)
	for i := 0; i+1 < len(ops); i += 2 {
		holder := fmt.Sprintf("h%d", ops[i]/3%3)
		target := addrs[int(ops[i+1])%len(addrs)]
		p := pools[int(ops[i+1])%len(pools)]
		var desc string
		switch ops[i] % 3 {
		case 0:
			desc = fmt.Sprintf("Allocate(%q, %q)", p.Name, holder)
			got, err := a.Allocate(p.Name, holder)
			want, wantErr := m.allocate(p, holder)
			sameResult(t, desc, got, err, want, wantErr)
		case 1:
			desc = fmt.Sprintf("Reserve(%s, %q)", target, holder)
			sameResult(t, desc, 0, a.Reserve(target, holder), 0, m.reserve(target, holder))
		case 2:
			desc = fmt.Sprintf("Release(%s, %q)", target, holder)
			sameResult(t, desc, a.Release(target, holder), nil, m.release(target, holder), nil)
		}
		if diff := cmp.Diff(m.usage(), a.Usage()); diff != "" {
			t.Fatalf("after op %d %s: Usage() (-model +got):\n%s", i/2, desc, diff)
		}
		for _, x := range addrs {
			got, _ := a.Holder(x)
			if want := m.held[x]; got != want {
				t.Fatalf("after op %d %s: Holder(%s) = %q, model says %q", i/2, desc, x, got, want)
			}
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
	f.Add([]byte{1, 20, 4, 20, 2, 20, 5, 20, 0, 1, 0, 1, 0, 1})
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
