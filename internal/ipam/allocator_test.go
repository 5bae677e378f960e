package ipam

import (
	"errors"
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
