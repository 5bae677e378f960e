package poolconfig

import (
	"net/netip"
	"slices"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

// PoolAnnotation is the Service annotation that names the pool to use.
const PoolAnnotation = "k8s.co/keepalived-pool"

// DefaultPool names the pool FromCIDR makes.
const DefaultPool = "default"

// Config is a validated set of pools and reserved addresses.
type Config struct {
	Pools    []Pool // in file order
	Reserved []ipam.Range
}

// Pool is an ipam pool with the rules for who gets addresses from it.
type Pool struct {
	ipam.Pool           // Name, Ranges (as written in the file), AvoidBuggyIPs
	Namespaces []string // the namespaces it serves; empty means every namespace
	AutoAssign bool     // false: only for Services that name it or request an address in it
}

// Serves reports whether Services in namespace may use p.
func (p Pool) Serves(namespace string) bool {
	return len(p.Namespaces) == 0 || slices.Contains(p.Namespaces, namespace)
}

// Lookup finds the pool called name.
func (c *Config) Lookup(name string) (Pool, bool) {
	i := slices.IndexFunc(c.Pools, func(p Pool) bool { return p.Name == name })
	if i < 0 {
		return Pool{}, false
	}
	return c.Pools[i], true
}

// PoolOf finds the pool whose ranges, as written, contain addr; unlike the
// allocator's PoolOf it also finds a pool for a reserved address.
func (c *Config) PoolOf(addr netip.Addr) (Pool, bool) {
	for _, p := range c.Pools {
		if containsAddr(p.Ranges, addr) {
			return p, true
		}
	}
	return Pool{}, false
}

// IsReserved reports whether addr is in the reserved list.
func (c *Config) IsReserved(addr netip.Addr) bool {
	return containsAddr(c.Reserved, addr)
}

// IPAMPools returns the pools in file order for ipam.NewAllocator or
// Allocator.Repool, with the reserved addresses carved out of their ranges:
// the allocator then never hands them out, at no cost per reserved address,
// and a pool's size counts only what it can hand out. A consequence: a held
// address that has since been reserved is outside every ipam pool, so tell
// the two cases apart with IsReserved.
func (c *Config) IPAMPools() []ipam.Pool {
	out := make([]ipam.Pool, len(c.Pools))
	for i, p := range c.Pools {
		out[i] = p.Pool
		out[i].Ranges = ipam.Subtract(p.Ranges, c.Reserved)
	}
	return out
}

func containsAddr(rs []ipam.Range, addr netip.Addr) bool {
	return slices.ContainsFunc(rs, func(r ipam.Range) bool { return r.Contains(addr) })
}
