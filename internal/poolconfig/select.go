package poolconfig

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

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
	if err := checkIPv4(addr); err != nil {
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

// checkIPv4 refuses what kube-keepalived-vip cannot publish.
func checkIPv4(addr netip.Addr) error {
	switch {
	case addr.Is4():
		return nil
	case addr.Is4In6():
		return fmt.Errorf("address %s: %w: write it as %s", addr, ipam.ErrNotIPv4, addr.Unmap())
	case addr.Is6():
		return fmt.Errorf("address %s: %w", addr, ipam.ErrIPv6)
	}
	return fmt.Errorf("no address: %w", ipam.ErrNotIPv4)
}
