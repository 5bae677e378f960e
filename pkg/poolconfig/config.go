// Package poolconfig reads the pools file, which shapes the addresses the
// provider hands out, and answers which pools a Service may use.
//
// The file is YAML, typically mounted from a ConfigMap:
//
//	pools:
//	  - name: public                 # required, a DNS-1123 label, unique
//	    addresses:                   # required: CIDRs, first-last ranges and single addresses, mixed
//	      - 10.210.38.64/26          #   a CIDR of /30 or wider loses its network and broadcast addresses
//	      - 10.210.39.10-10.210.39.20
//	      - fd00:38::/64             #   (DualStack only) an IPv6 CIDR of /126 or wider loses its
//	                                 #   subnet-router anycast address, the all-zero host
//	    namespaces: [team-a, team-b] # optional: only Services in these namespaces may use it;
//	                                 #   empty or absent means every namespace
//	    autoAssign: true             # optional, default true; false means the pool is used only by a
//	                                 #   Service that names it or requests an address in it
//	    avoidBuggyIPs: false         # optional, default false: never hand out IPv4 addresses ending in .0
//	                                 #   or .255 (some client firmware mistakes them for broadcast addresses)
//	  - name: private
//	    addresses: [192.168.50.0/24]
//	reserved:                        # optional: addresses never handed out, inside pools or not
//	  - 10.210.38.70                 #   a CIDR here covers its whole block, network and broadcast included
//	  - 10.210.39.15-10.210.39.16
//
// Each addresses or reserved entry holds one item in the syntax of
// ipam.ParseRanges; list several items as several entries. Parse, Load and
// FromCIDR accept only IPv4: kube-keepalived-vip publishes addresses as
// ConfigMap keys, which cannot contain ':'. ParseDualStack, LoadDualStack
// and FromCIDRDualStack accept IPv6 as well, in the syntax of
// ipam.DualStack.ParseRanges, and a pool may then hold both families; the
// Config remembers which (Config.Stack), so that the rest follows it. An IPv6
// range must keep clear of the special blocks (ipam.OverlapsSpecial) and may
// use the documentation prefix 2001:db8::/32 only inside it. Pools must not
// overlap one another. Parse reports every problem at once, each naming its
// pool (by name, or by position when it has none) and the bad field or
// value, so that an operator fixes the file in one go and a live reload can
// keep the old pools while logging why.
//
// # Choosing a pool
//
// A Service may name its pool with the annotation k8s.co/keepalived-pool.
// Otherwise it gets an address from the first auto-assign pool that serves
// its namespace, trying pools that list the namespace before pools that serve
// every namespace, each group in file order (see Config.Candidates). A
// Service may request an address (spec.loadBalancerIP) outside every pool, as
// with the 2017 provider, or inside a pool that serves its namespace; never a
// reserved one (see Config.PermitsRequest).
//
// The single-CIDR setting KEEPALIVED_SERVICE_CIDR still works: FromCIDR turns
// it into one auto-assign pool named "default" serving every namespace.
package poolconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// PoolAnnotation is the Service annotation that names the pool to use.
const PoolAnnotation = "k8s.co/keepalived-pool"

// DefaultPool names the pool FromCIDR makes.
const DefaultPool = "default"

// Config is a validated set of pools and reserved addresses.
type Config struct {
	Pools    []Pool // in file order
	Reserved []ipam.Range
	// Stack is the families the Config was read with: ipam.IPv4Only unless
	// read by a DualStack function. Build allocators with Stack.NewAllocator
	// and Stack.Repool; PermitsRequest accepts IPv6 only in ipam.DualStack.
	Stack ipam.Stack
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
// ipam.Repool, with the reserved addresses carved out of their ranges:
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

// IPAMPoolsWithout is IPAMPools with every address of the cluster's Service
// CIDRs (kube-apiserver --service-cluster-ip-range, of either family) carved
// out as well: the allocator then never hands out a ClusterIP range, even
// from a pool that overlaps it. A pool left with nothing is an error naming
// the pool and the CIDRs, since the allocator needs at least one range.
func (c *Config) IPAMPoolsWithout(serviceCIDRs []netip.Prefix) ([]ipam.Pool, error) {
	holes := make([]ipam.Range, len(serviceCIDRs))
	for i, p := range serviceCIDRs {
		holes[i] = ipam.PrefixRange(p)
	}
	out := c.IPAMPools()
	var errs []error
	for i := range out {
		out[i].Ranges = ipam.Subtract(out[i].Ranges, holes)
		if len(out[i].Ranges) == 0 {
			errs = append(errs, fmt.Errorf("pool %q: every address it does not reserve is in the cluster's Service CIDRs %s, leaving none to hand out",
				out[i].Name, formatPrefixes(serviceCIDRs)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func formatPrefixes(ps []netip.Prefix) string {
	texts := make([]string, len(ps))
	for i, p := range ps {
		texts[i] = p.String()
	}
	return strings.Join(texts, ", ")
}

func containsAddr(rs []ipam.Range, addr netip.Addr) bool {
	return slices.ContainsFunc(rs, func(r ipam.Range) bool { return r.Contains(addr) })
}

// Candidates returns the names of the pools a Service in namespace may get an
// automatic address from, in the order to try them.
//
// When poolName is set (the Service's PoolAnnotation) it is just that pool,
// auto-assign or not; an error says if it does not exist (listing the pools,
// matching ipam.ErrUnknownPool) or does not serve namespace (saying which it
// serves, matching ErrNotServed). Otherwise it is the auto-assign pools that
// list namespace, in file order, then the auto-assign pools serving every
// namespace, in file order: a team's own pool is used before a shared one.
// An empty result is no error here; the caller says no pool serves namespace.
func (c *Config) Candidates(namespace, poolName string) ([]string, error) {
	if poolName != "" {
		p, err := c.named(namespace, poolName)
		if err != nil {
			return nil, err
		}
		return []string{p.Name}, nil
	}
	var own, shared []string
	for _, p := range c.Pools {
		switch {
		case !p.AutoAssign:
		case len(p.Namespaces) == 0:
			shared = append(shared, p.Name)
		case slices.Contains(p.Namespaces, namespace):
			own = append(own, p.Name)
		}
	}
	return append(own, shared...), nil
}

// PermitsRequest checks an address a Service in namespace requests. Reserved
// addresses are refused (ErrReserved): they are never handed out. Any other
// address outside every pool is allowed, as the 2017 provider allowed it. An
// address inside a pool is allowed only if that pool serves namespace
// (ErrNotServed) and, when poolName is set, is that very pool
// (ipam.ErrNotInPool). A poolName that does not exist or does not serve
// namespace is refused as in Candidates, wherever the address lies.
func (c *Config) PermitsRequest(namespace, poolName string, addr netip.Addr) error {
	if err := c.checkFamily(addr); err != nil {
		return err
	}
	if c.IsReserved(addr) {
		return explain(ErrReserved, "address %s is reserved: the pools file keeps it from every Service", addr)
	}
	if poolName != "" {
		if _, err := c.named(namespace, poolName); err != nil {
			return err
		}
	}
	p, ok := c.PoolOf(addr)
	switch {
	case !ok:
		return nil
	case !p.Serves(namespace):
		return explain(ErrNotServed, "address %s is in %s", addr, servedBy(p))
	case poolName != "" && p.Name != poolName:
		return explain(ipam.ErrNotInPool, "address %s is in pool %q, but annotation %s names pool %q",
			addr, p.Name, PoolAnnotation, poolName)
	}
	return nil
}

// named finds the pool a Service names and checks that it serves namespace.
func (c *Config) named(namespace, name string) (Pool, error) {
	p, ok := c.Lookup(name)
	if !ok {
		return Pool{}, explain(ipam.ErrUnknownPool, "annotation %s names pool %q, which does not exist; the pools are %s",
			PoolAnnotation, name, c.poolNames())
	}
	if !p.Serves(namespace) {
		return Pool{}, explain(ErrNotServed, "annotation %s names %s", PoolAnnotation, servedBy(p))
	}
	return p, nil
}

func (c *Config) poolNames() string {
	if len(c.Pools) == 0 {
		return "none"
	}
	names := make([]string, len(c.Pools))
	for i, p := range c.Pools {
		names[i] = fmt.Sprintf("%q", p.Name)
	}
	return strings.Join(names, ", ")
}

// checkFamily refuses an address of a family c does not accept: IPv6 unless
// c.Stack is ipam.DualStack, and IPv4-mapped IPv6 always.
func (c *Config) checkFamily(addr netip.Addr) error {
	switch {
	case addr.Is4():
		return nil
	case c.Stack == ipam.DualStack && !addr.Is4In6() && addr.Is6():
		if err := c.Stack.Check(addr); err != nil {
			return fmt.Errorf("address %s: %w", addr, err)
		}
		return nil
	case addr.Is4In6():
		return fmt.Errorf("address %s: %w: write it as %s", addr, ipam.ErrNotIPv4, addr.Unmap())
	case addr.Is6():
		return fmt.Errorf("address %s: %w", addr, ipam.ErrIPv6)
	}
	return fmt.Errorf("no address: %w", ipam.ErrNotIPv4)
}

// Sentinel errors for the selection rules; match them with errors.Is. Pool
// names that do not exist match ipam.ErrUnknownPool, and a requested address
// in a pool other than the one the Service names matches ipam.ErrNotInPool.
var (
	ErrNotServed = errors.New("pool does not serve the namespace")
	ErrReserved  = errors.New("address is reserved")
)

// explained is a message for the user that matches a sentinel without
// repeating its text.
type explained struct {
	msg string
	is  error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.is }

func explain(is error, format string, args ...any) error {
	return &explained{msg: fmt.Sprintf(format, args...), is: is}
}

// servedBy describes whom a pool serves, as in `pool "b", which serves
// namespaces [team-b] only`.
func servedBy(p Pool) string {
	return fmt.Sprintf("pool %q, which serves namespaces [%s] only", p.Name, strings.Join(p.Namespaces, ", "))
}
