package poolconfig

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

// reserved parses the reserved entries.
func (c *checker) reserved(entries []string) []ipam.Range {
	var out []ipam.Range
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		r, warning, err := parseReserved(entry)
		if err != nil {
			c.failf("reserved %q: %w", entry, err)
			continue
		}
		if warning != "" {
			c.warnf("reserved: %s", warning)
		}
		out = append(out, r)
	}
	return out
}

// parseReserved reads one reserved entry. A CIDR covers its whole block:
// whoever reserves 10.0.5.0/24 inside a 10.0.0.0/16 pool means none of it,
// not all but its first and last address.
func parseReserved(entry string) (ipam.Range, string, error) {
	if strings.Contains(entry, ",") {
		return ipam.Range{}, "", errOneItem
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil || !p.Addr().Is4() {
		return ipam.ParseRange(entry) // an address or range, or an error worded by ipam
	}
	var warning string
	if m := p.Masked(); m != p {
		warning = fmt.Sprintf("%s has host bits set; using its network %s", entry, m)
	}
	return ipam.PrefixRange(p), warning, nil
}

// checkFullyReserved refuses pools left with nothing once the reserved
// addresses are carved out: the allocator needs at least one range, and such
// a pool is surely a mistake.
func (c *checker) checkFullyReserved(cfg *Config) {
	for _, p := range cfg.Pools {
		if len(p.Ranges) > 0 && len(ipam.Subtract(p.Ranges, cfg.Reserved)) == 0 {
			c.failf("pool %q: every address is reserved, leaving none to hand out", p.Name)
		}
	}
}
