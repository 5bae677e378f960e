package e2e

import (
	"net/netip"
	"strings"
	"testing"
)

// inPool reports whether ip lies in pool, a comma-separated list of CIDRs and a-b ranges.
func inPool(t *testing.T, ip, pool string) bool {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil {
		t.Fatalf("%q is not an address", ip)
	}
	for _, item := range strings.Split(pool, ",") {
		if first, last, ok := strings.Cut(item, "-"); ok {
			lo, hi := netip.MustParseAddr(first), netip.MustParseAddr(last)
			if lo.Compare(a) <= 0 && a.Compare(hi) <= 0 {
				return true
			}
		} else if netip.MustParsePrefix(item).Contains(a) {
			return true
		}
	}
	return false
}

func (e *env) assertInPool(name, ip string) {
	e.t.Helper()
	if !inPool(e.t, ip, e.cfg.pool) {
		e.t.Errorf("Service %s got %s, outside the pool %s", name, ip, e.cfg.pool)
	}
}
