package poolconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

// errOneItem refuses "a, b" in one list entry: a YAML list already separates
// items, so a comma more likely means a missing dash than a wish for two.
var errOneItem = errors.New("one CIDR, range or address per entry: give each its own list entry")

// pool decodes and checks the pool at position i; ok is false if it has any
// problem.
func (c *checker) pool(i int, raw json.RawMessage) (p Pool, ok bool) {
	e, decoded, err := decode[poolEntry](raw, poolFields)
	label := poolLabel(i, e.Name)
	if err != nil {
		c.failf("%s: %w", label, err)
	}
	if !decoded {
		return Pool{}, false
	}
	before := len(c.errs)
	c.checkName(i, label, e.Name)
	p = Pool{
		Pool:       ipam.Pool{Name: e.Name, Ranges: c.addresses(label, e.Addresses), AvoidBuggyIPs: e.AvoidBuggyIPs},
		Namespaces: c.namespaces(label, e.Namespaces),
		AutoAssign: e.AutoAssign == nil || *e.AutoAssign,
	}
	return p, err == nil && len(c.errs) == before
}

// poolLabel names a pool in messages: by name, or by position (from 1) when
// it has none.
func poolLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("pool #%d", i+1)
	}
	return fmt.Sprintf("pool %q", name)
}

func (c *checker) checkName(i int, label, name string) {
	if name == "" {
		c.failf("%s: name is required", label)
		return
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		c.failf("%s: name is not a DNS-1123 label: %s", label, strings.Join(msgs, "; "))
	}
	if first, dup := c.names[name]; dup {
		c.failf("pool #%d: name %q is already used by pool #%d", i+1, name, first+1)
		return
	}
	if c.names == nil {
		c.names = map[string]int{}
	}
	c.names[name] = i
}

// addresses parses a pool's entries and records them for the overlap check.
func (c *checker) addresses(label string, entries []string) []ipam.Range {
	if len(entries) == 0 {
		c.failf("%s: addresses: list at least one CIDR, first-last range or address", label)
		return nil
	}
	var out []ipam.Range
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		r, warning, err := parseEntry(entry)
		if err != nil {
			c.failf("%s: address %q: %w", label, entry, err)
			continue
		}
		if warning != "" {
			c.warnf("%s: %s", label, warning)
		}
		if err := ipam.OverlapsSpecial(r); err != nil {
			c.failf("%s: address %q: %w; no node may announce it", label, entry, err)
			continue
		}
		out = append(out, r)
		c.ranges = append(c.ranges, r)
		c.labels = append(c.labels, label+" address "+entry)
	}
	return out
}

func parseEntry(entry string) (ipam.Range, string, error) {
	if strings.Contains(entry, ",") {
		return ipam.Range{}, "", errOneItem
	}
	return ipam.ParseRange(entry)
}

// namespaces checks a pool's namespace names; none means every namespace.
func (c *checker) namespaces(label string, names []string) []string {
	for _, ns := range names {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			c.failf("%s: namespace %q is not a namespace name: %s", label, ns, strings.Join(msgs, "; "))
		}
	}
	if len(names) == 0 {
		return nil
	}
	return names
}
