package ledger

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// A ledger is single-family: it hands out, follows and publishes addresses of
// Options.Family only, in the ConfigMap of that family. A dual-stack provider runs
// one ledger per family; a pool holding both families lends each ledger its ranges
// of that family, so that the rules (status first, restore without moves, requests
// inside a serving pool) hold per family and the IPv4 ledger is what it always was.

// familyPools are the ipam pools of family fam: each pool's ranges of that family,
// reserved addresses carved out, and pools without any left out. For IPv6 the
// cluster's Service CIDRs are carved out too, so that no ClusterIP is ever handed
// out; the IPv4 pools keep the rule they always had (only requests are refused there).
func familyPools(pools *poolconfig.Config, fam vipconfig.Family, forbidden []netip.Prefix) []ipam.Pool {
	if pools == nil {
		return nil
	}
	var holes []ipam.Range
	if fam == vipconfig.IPv6 {
		for _, p := range forbidden {
			if p.Addr().Is6() {
				holes = append(holes, ipam.PrefixRange(p))
			}
		}
	}
	want := ipamFamily(fam)
	var out []ipam.Pool
	for _, p := range pools.IPAMPools() {
		p.Ranges = slices.DeleteFunc(p.Ranges, func(r ipam.Range) bool { return r.Family() != want })
		if p.Ranges = ipam.Subtract(p.Ranges, holes); len(p.Ranges) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// stack is the ipam stack that accepts fam: the IPv4 ledger's allocator is
// exactly the one it always was.
func stack(fam vipconfig.Family) ipam.Stack {
	if fam == vipconfig.IPv6 {
		return ipam.DualStack
	}
	return ipam.IPv4Only
}

func ipamFamily(fam vipconfig.Family) ipam.Family {
	if fam == vipconfig.IPv6 {
		return ipam.IPv6
	}
	return ipam.IPv4
}

// FamilyOf is the ConfigMap family of addr.
func FamilyOf(addr netip.Addr) vipconfig.Family {
	if addr.Is6() && !addr.Is4In6() {
		return vipconfig.IPv6
	}
	return vipconfig.IPv4
}

// newAllocator builds the allocator over the pools of the ledger's family, and
// the names of those pools.
func newAllocator(opts Options) (*ipam.Allocator, map[string]bool, error) {
	ps := familyPools(opts.Pools, opts.Family, opts.Forbidden)
	alloc, err := stack(opts.Family).NewAllocator(ps...)
	if err != nil {
		return nil, nil, fmt.Errorf("address pools: %w", err)
	}
	return alloc, poolNames(ps), nil
}

func poolNames(ps []ipam.Pool) map[string]bool {
	names := make(map[string]bool, len(ps))
	for _, p := range ps {
		names[p.Name] = true
	}
	return names
}

// keyOf is addr's key in the ledger's ConfigMap, for messages.
func (l *Ledger) keyOf(addr netip.Addr) string {
	if key, err := l.opts.Family.Key(addr); err == nil {
		return key
	}
	return addr.String()
}

// familyWord qualifies "addresses" in messages of the IPv6 ledger; the IPv4
// ledger's messages stay as they always were.
func (l *Ledger) familyWord() string {
	if l.opts.Family == vipconfig.IPv6 {
		return "IPv6 "
	}
	return ""
}

// Offers reports whether a pool of the ledger's family would give svc an address
// of its own accord: the pool it names, or an auto-assign pool that serves its
// namespace. A dual-stack Service that prefers both families gets this family
// only where a pool offers it. While the pools file is invalid nothing is offered,
// and the error says so.
func (l *Ledger) Offers(svc Service) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Pools == nil {
		return false, l.errPoolsInvalid()
	}
	names, err := l.opts.Pools.Candidates(svc.Namespace, svc.Pool)
	return err == nil && slices.ContainsFunc(names, func(n string) bool { return l.served[n] }), nil
}

// servedNames keeps the candidate pools that have ranges of the ledger's family.
func (l *Ledger) servedNames(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !l.served[n] })
}

// familyUsage is the exact count of the family's addresses per pool (an IPv6 pool
// may hold more than a uint64 counts).
func (l *Ledger) familyUsage() []ipam.FamilyUsage {
	want := ipamFamily(l.opts.Family)
	return slices.DeleteFunc(l.alloc.FamilyUsage(), func(u ipam.FamilyUsage) bool { return u.Family != want })
}

// sizeFloat is n as a float64, for gauges.
func sizeFloat(n *big.Int) float64 {
	f, _ := new(big.Float).SetInt(n).Float64()
	return f
}
