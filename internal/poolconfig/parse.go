package poolconfig

import (
	"errors"
	"fmt"
	"os"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

// Parse reads and validates a pools file. Every problem is reported together
// (errors.Join), each naming the pool, by name or else by position, and the
// bad field or value. Warnings, such as a CIDR read as its network because
// host bits were set, are returned even with an error, each prefixed by the
// pool name or "reserved".
func Parse(data []byte) (*Config, []string, error) {
	var c checker
	f, ok, err := decode[file](data, fileFields)
	c.add(err)
	if !ok {
		return nil, nil, c.err()
	}
	if len(f.Pools) == 0 {
		c.failf("no pools: list at least one under pools")
	}
	cfg := &Config{}
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
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pools file: %w", err)
	}
	cfg, warnings, err := Parse(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("invalid pools file %s:\n%w", path, err)
	}
	return cfg, warnings, nil
}

// FromCIDR builds the single auto-assign pool "default", serving every
// namespace, from a list in the KEEPALIVED_SERVICE_CIDR syntax (that of
// ipam.ParseRanges). Its errors do not name the setting: the caller knows
// where spec came from.
func FromCIDR(spec string) (*Config, []string, error) {
	ranges, warnings, err := ipam.ParseRanges(spec)
	if err != nil {
		return nil, warnings, err
	}
	for _, r := range ranges {
		if err := ipam.OverlapsSpecial(r); err != nil {
			return nil, warnings, fmt.Errorf("%w; no node may announce it", err)
		}
	}
	p := Pool{Pool: ipam.Pool{Name: DefaultPool, Ranges: ranges}, AutoAssign: true}
	return &Config{Pools: []Pool{p}}, warnings, nil
}

// checker gathers every problem and warning of a pools file.
type checker struct {
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
