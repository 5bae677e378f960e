package main

import (
	"fmt"
	"time"
)

// figure is one line of a size's report: the floor (if it has one), the null
// provider and ours, and the ratios of ours to each.
type figure struct {
	label             string
	floor, null, ours float64 // floor < 0: the floor has no such figure
	format            string  // of one value
}

const noFloor = -1

func (f figure) print() {
	floor := "-"
	if f.floor >= 0 {
		floor = fmt.Sprintf(f.format, f.floor)
	}
	fmt.Printf("  %-40s %10s %10s %10s %11s %11s\n", f.label, floor,
		fmt.Sprintf(f.format, f.null), fmt.Sprintf(f.format, f.ours), ratio(f.ours, f.null), ratio(f.ours, f.floor))
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func secs(d time.Duration) float64 { return d.Seconds() }

// phaseFigures are the lines of one burst: floor, null and ours side by side.
func phaseFigures(name, done string, floor time.Duration, null, ours phase) []figure {
	return []figure{
		{name + ": " + done, secs(floor), secs(null.wall), secs(ours.wall), "%.2f s"},
		{"  p50 per Service", noFloor, secs(null.p50), secs(ours.p50), "%.2f s"},
		{"  p99 per Service", noFloor, secs(null.p99), secs(ours.p99), "%.2f s"},
		{"  provider CPU", noFloor, secs(null.cpu), secs(ours.cpu), "%.2f s"},
		{"  API writes/Service (no Events)", noFloor, null.apiWrites, ours.apiWrites, "%.2f"},
		{"  ConfigMap writes/Service", noFloor, null.cmWrites, ours.cmWrites, "%.3f"},
		{"  ConfigMap bytes sent/Service", noFloor, null.cmBytesPerSvc, ours.cmBytesPerSvc, "%.0f"},
	}
}

func (r result) print(n, rounds int) {
	fmt.Printf("%-42s %10s %10s %10s %11s %11s\n", fmt.Sprintf("N=%d (median of %d)", n, rounds),
		"floor", "null", "ours", "ours/null", "ours/floor")
	figs := phaseFigures("create burst", "all addressed", r.floorCreate, r.null.create, r.ours.create)
	figs = append(figs, phaseFigures("delete burst", "all gone", r.floorRemove, r.null.remove, r.ours.remove)...)
	figs = append(figs,
		figure{"backlog drain: all addressed after start", noFloor, secs(r.null.backlog.wall), secs(r.ours.backlog.wall), "%.2f s"},
		figure{"  provider CPU from its start", noFloor, secs(r.null.backlog.cpu), secs(r.ours.backlog.cpu), "%.2f s"})
	for _, f := range figs {
		f.print()
	}
	fmt.Printf("  idle, %s: ours %d writes (%d renew the lease) %v; null %d (%d)\n\n", idleWindow,
		r.ours.idle.total, r.ours.idle.byKind["PUT leases/"], r.ours.idle.byKind,
		r.null.idle.total, r.null.idle.byKind["PUT leases/"])
}

func (r backlogResult) print(n int) {
	fmt.Printf("Backlog of %d Services, then our provider starts\n", n)
	fmt.Printf("  first decision %s after start; all addressed %s; CPU %.1f s; peak RSS %d MiB; ConfigMap %d KiB\n",
		seconds(r.firstDecision), seconds(r.all), r.cpu.Seconds(), r.peakRSS>>20, r.cmBytes>>10)
}
