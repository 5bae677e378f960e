package poolconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// Parse reads and validates a pools file. Every problem is reported together
// (errors.Join), each naming the pool, by name or else by position, and the
// bad field or value. Warnings, such as a CIDR read as its network because
// host bits were set, are returned even with an error, each prefixed by the
// pool name or "reserved". IPv6 is refused (ipam.ErrIPv6), as the legacy
// ConfigMap cannot publish it; ParseDualStack accepts it.
func Parse(data []byte) (*Config, []string, error) {
	return parse(ipam.IPv4Only, data)
}

// ParseDualStack is Parse accepting IPv6 addresses beside IPv4 ones, in one
// pool or in several. Its Config has Stack ipam.DualStack.
func ParseDualStack(data []byte) (*Config, []string, error) {
	return parse(ipam.DualStack, data)
}

func parse(stack ipam.Stack, data []byte) (*Config, []string, error) {
	c := checker{stack: stack}
	f, ok, err := decode[file](data, fileFields)
	c.add(err)
	if !ok {
		return nil, nil, c.err()
	}
	if len(f.Pools) == 0 {
		c.failf("no pools: list at least one under pools")
	}
	cfg := &Config{Stack: stack}
	for i, raw := range f.Pools {
		if p, ok := c.pool(i, raw); ok {
			cfg.Pools = append(cfg.Pools, p)
		}
	}
	c.checkOverlaps()
	cfg.Reserved = c.reserved(f.Reserved)
	c.checkFullyReserved(cfg)
	if err := c.err(); err != nil {
		return nil, c.warnings, err
	}
	return cfg, c.warnings, nil
}

// Load reads the pools file at path and calls Parse; errors name the file.
func Load(path string) (*Config, []string, error) {
	return load(ipam.IPv4Only, path)
}

// LoadDualStack is Load calling ParseDualStack.
func LoadDualStack(path string) (*Config, []string, error) {
	return load(ipam.DualStack, path)
}

func load(stack ipam.Stack, path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pools file: %w", err)
	}
	cfg, warnings, err := parse(stack, data)
	if err != nil {
		return nil, warnings, fmt.Errorf("invalid pools file %s:\n%w", path, err)
	}
	return cfg, warnings, nil
}

// FromCIDR builds the single auto-assign pool "default", serving every
// namespace, from a list in the KEEPALIVED_SERVICE_CIDR syntax (that of
// ipam.ParseRanges). Its errors do not name the setting: the caller knows
// where spec came from. IPv6 is refused, as by Parse.
func FromCIDR(spec string) (*Config, []string, error) {
	return fromCIDR(ipam.IPv4Only, spec)
}

// FromCIDRDualStack is FromCIDR accepting IPv6 items beside IPv4 ones (those
// of ipam.DualStack.ParseRanges); its one pool may hold both families.
func FromCIDRDualStack(spec string) (*Config, []string, error) {
	return fromCIDR(ipam.DualStack, spec)
}

func fromCIDR(stack ipam.Stack, spec string) (*Config, []string, error) {
	ranges, warnings, err := stack.ParseRanges(spec)
	if err != nil {
		return nil, warnings, err
	}
	for _, r := range ranges {
		if err := ipam.OverlapsSpecial(r); err != nil {
			return nil, warnings, fmt.Errorf("%w; no node may announce it", err)
		}
	}
	p := Pool{Pool: ipam.Pool{Name: DefaultPool, Ranges: ranges}, AutoAssign: true}
	return &Config{Pools: []Pool{p}, Stack: stack}, warnings, nil
}

// checker gathers every problem and warning of a pools file.
type checker struct {
	stack    ipam.Stack // the families accepted
	errs     []error
	warnings []string
	names    map[string]int // pool name to its first position
	ranges   []ipam.Range   // every pool's valid ranges, for the overlap check
	labels   []string       // labels[i] names ranges[i]
}

func (c *checker) add(err error) {
	if err != nil {
		c.errs = append(c.errs, err)
	}
}

func (c *checker) failf(format string, args ...any) {
	c.add(fmt.Errorf(format, args...))
}

func (c *checker) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

func (c *checker) err() error { return errors.Join(c.errs...) }

func (c *checker) checkOverlaps() {
	for _, err := range ipam.FindOverlaps(c.ranges, c.labels) {
		c.add(err)
	}
}

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
	if p.AvoidBuggyIPs && p.Has(ipam.IPv6) && !p.Has(ipam.IPv4) {
		c.warnf("%s: avoidBuggyIPs applies to IPv4 addresses only; this pool has none", label)
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
		r, warning, err := c.parseEntry(entry)
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

func (c *checker) parseEntry(entry string) (ipam.Range, string, error) {
	if strings.Contains(entry, ",") {
		return ipam.Range{}, "", errOneItem
	}
	return c.stack.ParseRange(entry)
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

// reserved parses the reserved entries.
func (c *checker) reserved(entries []string) []ipam.Range {
	var out []ipam.Range
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		r, warning, err := c.parseReserved(entry)
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
func (c *checker) parseReserved(entry string) (ipam.Range, string, error) {
	if strings.Contains(entry, ",") {
		return ipam.Range{}, "", errOneItem
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil || c.stack.Check(p.Addr()) != nil {
		return c.stack.ParseRange(entry) // an address or range, or an error worded by ipam
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

// file is the pools file as written. Pools stay raw so that each is decoded
// on its own: its errors can then name it, and one bad pool does not hide
// the problems of the others.
type file struct {
	Pools    []json.RawMessage `json:"pools"`
	Reserved []string          `json:"reserved"`
}

const fileFields = "pools, reserved"

// poolEntry is one pool as written.
type poolEntry struct {
	Name          string   `json:"name"`
	Addresses     []string `json:"addresses"`
	Namespaces    []string `json:"namespaces"`
	AutoAssign    *bool    `json:"autoAssign"` // nil: the default, true
	AvoidBuggyIPs bool     `json:"avoidBuggyIPs"`
}

const poolFields = "name, addresses, namespaces, autoAssign, avoidBuggyIPs"

// decode reads YAML into a T, strictly. When the only fault is an unknown or
// repeated field, it still returns what a lenient read gives (ok) beside the
// error, so that the rest of the input can be checked too.
func decode[T any](data []byte, fields string) (v T, ok bool, err error) {
	strictErr := yaml.UnmarshalStrict(data, &v)
	if strictErr == nil {
		return v, true, nil
	}
	var lenient T
	if err := yaml.Unmarshal(data, &lenient); err != nil {
		return lenient, false, errors.New(yamlReason(err, fields))
	}
	return lenient, true, errors.New(yamlReason(strictErr, fields))
}

// yamlReason rewords a sigs.k8s.io/yaml error for an operator: without the
// library's layers of prefixes and without Go type names.
func yamlReason(err error, fields string) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return typeReason(te, fields)
	}
	msg := err.Error()
	for _, prefix := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if rest, ok := strings.CutPrefix(msg, "yaml: unmarshal errors:\n"); ok {
		return joinLines(rest)
	}
	if rest, ok := strings.CutPrefix(msg, "yaml: "); ok {
		return "invalid YAML: " + rest
	}
	if strings.HasPrefix(msg, "unknown field ") {
		return fmt.Sprintf("%s (want %s)", msg, fields)
	}
	return msg
}

// typeReason says what was found and what was wanted, such as
// "addresses: got text, want a list".
func typeReason(te *json.UnmarshalTypeError, fields string) string {
	msg := fmt.Sprintf("got %s, want %s", jsonKind(te.Value), goKind(te.Type))
	if te.Field == "" {
		return fmt.Sprintf("%s (with %s)", msg, fields)
	}
	return te.Field + ": " + msg
}

func jsonKind(value string) string {
	switch {
	case value == "array":
		return "a list"
	case value == "object":
		return "a mapping"
	case value == "string":
		return "text"
	case value == "bool":
		return "true or false"
	case strings.HasPrefix(value, "number"):
		return "a number"
	}
	return value
}

func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return goKind(t.Elem())
	}
	return t.String()
}

// joinLines puts a multi-line message on one line.
func joinLines(msg string) string {
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
