package ledger

import (
	"fmt"
	"strings"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// Stats are the figures behind the metrics.
type Stats struct {
	Pools         []ipam.PoolUsage
	Outside       int  // held addresses outside every pool
	Entries       int  // held entries
	Size          Size // their size in the ConfigMap
	Capacity      Size // the size they may reach
	ForeignKeys   int
	BlockedByKeys int // held addresses whose entry a foreign key blocks
}

// Stats returns the ledger's figures.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Pools: l.alloc.Usage(), Size: l.size, Capacity: l.opts.Capacity}
	for _, r := range l.services {
		if !r.addr.IsValid() {
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
	for _, u := range l.alloc.Usage() {
		parts = append(parts, fmt.Sprintf("%s: %d of %d in use", u.Name, u.InUse, u.Size))
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
