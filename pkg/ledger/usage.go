package ledger

import (
	"fmt"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Stats are the figures behind the metrics.
type Stats struct {
	Family        vipconfig.Family // the ledger's
	Pools         []ipam.PoolUsage
	PoolSizes     []float64 // the exact size of each of Pools (an IPv6 pool's Size saturates at 2^64-1)
	Outside       int       // held addresses outside every pool
	Entries       int       // held entries (one per address, however many Services share it)
	Size          Size      // their size in the ConfigMap
	Capacity      Size      // the size they may reach
	ForeignKeys   int
	BlockedByKeys int // held addresses whose entry a foreign key blocks
}

// Stats returns the ledger's figures.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Family: l.opts.Family, Pools: l.alloc.Usage(), Size: l.size, Capacity: l.opts.Capacity}
	for _, u := range l.familyUsage() {
		s.PoolSizes = append(s.PoolSizes, sizeFloat(u.Size))
	}
	for _, r := range l.services {
		if !l.publishes(r) {
			continue
		}
		s.Entries++
		if _, in := l.alloc.PoolOf(r.addr); !in && l.opts.Pools != nil {
			s.Outside++
		}
	}
	for addr, o := range l.owners {
		if o.foreign {
			s.ForeignKeys++
			if o.svc != nil && o.svc.addr == addr {
				s.BlockedByKeys++
			}
		}
	}
	return s
}

// Fill is how full the ConfigMap is, from 0 to 1.
func (s Stats) Fill() float64 {
	if s.Capacity == (Size{}) {
		return 0
	}
	return max(float64(s.Size.Data)/float64(s.Capacity.Data), float64(s.Size.Annotation)/float64(s.Capacity.Annotation))
}

// usageSummary is the one-line summary for people without Prometheus.
func (l *Ledger) usageSummary() string {
	var parts []string
	for _, u := range l.familyUsage() {
		parts = append(parts, fmt.Sprintf("%s: %d of %s in use", u.Name, u.InUse, u.Size))
	}
	if l.opts.Capacity != (Size{}) {
		s := Stats{Size: l.size, Capacity: l.opts.Capacity}
		parts = append(parts, fmt.Sprintf("ConfigMap: %d%% full", int(s.Fill()*100)))
	}
	return strings.Join(parts, "; ")
}

// Fill is how full the ConfigMap is, from 0 to 1, cheaply.
func (l *Ledger) Fill() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Size: l.size, Capacity: l.opts.Capacity}.Fill()
}
