package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// phase is one timed run: the provider's wall time against the floor's.
type phase struct {
	floor, wall   time.Duration
	p50, p99      time.Duration
	apiWrites     float64       // per Service, by the provider, Events excluded
	cmWrites      float64       // per Service
	cmBytesPerSvc float64       // ConfigMap bytes written to etcd per Service
	cpu           time.Duration // the provider's CPU time during the phase
}

type result struct {
	create, remove, backlog phase
	idle                    writes // the provider's writes over idleWindow with nothing to do
}

// idleWindow is how long the idle provider is watched for writes.
const idleWindow = 10 * time.Second

// measure runs every phase for n Services.
func (b *bench) measure(n int) (result, error) {
	var r result
	var err error
	b.stopProvider()
	if r.create.floor, err = b.timeAll(names("floor", n), b.floorCreate); err != nil {
		return r, err
	}
	if r.remove.floor, err = b.timeAll(names("floor", n), b.floorDelete); err != nil {
		return r, err
	}
	if _, err := b.waitAll(names("floor", n), gone); err != nil {
		return r, err
	}
	if err := b.startProvider(); err != nil {
		return r, err
	}
	if r.create, err = b.burst(names("burst", n), b.create, addressed, r.create.floor); err != nil {
		return r, err
	}
	if r.remove, err = b.burst(names("burst", n), b.delete, gone, r.remove.floor); err != nil {
		return r, err
	}
	if r.idle, err = b.idleWrites(); err != nil {
		return r, err
	}
	b.stopProvider()
	r.backlog, err = b.drain(names("backlog", n))
	return r, err
}

// timeAll runs do for every name and returns the wall time.
func (b *bench) timeAll(items []string, do func(context.Context, string) error) (time.Duration, error) {
	start := time.Now()
	_, err := b.parallel(items, do)
	return time.Since(start), err
}

// burst runs do for every name with the provider running and waits until cond holds
// for all of them.
func (b *bench) burst(items []string, do func(context.Context, string) error, cond func(*svcT, bool) bool, floor time.Duration) (phase, error) {
	before, err := b.apiserverWrites()
	if err != nil {
		return phase{}, err
	}
	cmBefore := b.configMapBytes()
	cpuBefore, _ := procStats(b.provider.PID())
	start := time.Now()
	starts, err := b.parallel(items, do)
	if err != nil {
		return phase{}, err
	}
	done, err := b.waitAll(items, cond)
	if err != nil {
		return phase{}, err
	}
	p := phase{floor: floor, wall: latest(done).Sub(start)}
	p.p50, p.p99 = percentiles(items, starts, done)
	after, err := b.apiserverWrites()
	if err != nil {
		return phase{}, err
	}
	cpuAfter, _ := procStats(b.provider.PID())
	p.cpu = cpuAfter - cpuBefore
	n := float64(len(items))
	d := after.minus(before)
	if *verbose {
		fmt.Printf("  API writes during the phase: %v\n", d.byKind)
	}
	p.apiWrites = float64(d.byProvider()) / n
	p.cmWrites = float64(d.configMaps) / n
	p.cmBytesPerSvc = float64(b.configMapBytesWritten(d.configMaps, cmBefore)) / n
	return p, nil
}

// idleWrites counts the API server's writes while the provider has nothing to do.
func (b *bench) idleWrites() (writes, error) {
	time.Sleep(2 * time.Second) // let the last status patches land
	before, err := b.apiserverWrites()
	if err != nil {
		return writes{}, err
	}
	time.Sleep(idleWindow)
	after, err := b.apiserverWrites()
	return after.minus(before), err
}

// drain creates the Services with no provider running, then starts one and times
// how long after its start every Service is addressed.
func (b *bench) drain(items []string) (phase, error) {
	if _, err := b.parallel(items, b.create); err != nil {
		return phase{}, err
	}
	start := time.Now()
	if err := b.startProvider(); err != nil {
		return phase{}, err
	}
	done, err := b.waitAll(items, addressed)
	if err != nil {
		return phase{}, err
	}
	p := phase{wall: latest(done).Sub(start)}
	_, err = b.parallel(items, b.delete)
	if err == nil {
		_, err = b.waitAll(items, gone)
	}
	return p, err
}

// backlogResult is the large backlog's figures.
type backlogResult struct {
	firstDecision, all time.Duration
	cpu                time.Duration
	peakRSS            int64
	cmBytes            int
}

// largeBacklog creates n Services with no provider running, then starts one.
func (b *bench) largeBacklog(n int) (backlogResult, error) {
	var r backlogResult
	b.stopProvider()
	items := names("large", n)
	if _, err := b.parallel(items, b.create); err != nil {
		return r, err
	}
	start := time.Now()
	if err := b.startProvider(); err != nil {
		return r, err
	}
	// The first decision: the first Service with an address.
	err := wait.PollUntilContextTimeout(b.ctx, 50*time.Millisecond, waitLimit, true, func(context.Context) (bool, error) {
		for _, name := range items {
			if svc, ok := b.watch.get(name); ok && addressed(svc, true) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return r, err
	}
	r.firstDecision = time.Since(start)
	done, err := b.waitAll(items, addressed)
	if err != nil {
		return r, err
	}
	r.all = latest(done).Sub(start)
	r.cpu, r.peakRSS = procStats(b.provider.PID())
	r.cmBytes = b.configMapBytes()
	if _, err := b.parallel(items, b.delete); err != nil {
		return r, err
	}
	_, err = b.waitAll(items, gone)
	return r, err
}

func latest(ts map[string]time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// percentiles of each Service's time from its request to its result.
func percentiles(items []string, starts []time.Time, done map[string]time.Time) (p50, p99 time.Duration) {
	lat := make([]time.Duration, 0, len(items))
	for i, name := range items {
		lat = append(lat, done[name].Sub(starts[i]))
	}
	slices.Sort(lat)
	return lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
}

// median picks, for each figure, the median over rounds (by wall time).
func median(rs []result) result {
	pick := func(get func(result) phase) phase {
		ps := make([]phase, len(rs))
		for i, r := range rs {
			ps[i] = get(r)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].wall < ps[j].wall })
		return ps[len(ps)/2]
	}
	return result{
		create:  pick(func(r result) phase { return r.create }),
		remove:  pick(func(r result) phase { return r.remove }),
		backlog: pick(func(r result) phase { return r.backlog }),
		idle:    rs[len(rs)/2].idle,
	}
}

func (r result) print(n, rounds int) {
	fmt.Printf("N=%d (median of %d)\n", n, rounds)
	for _, row := range []struct {
		name string
		p    phase
	}{{"create burst", r.create}, {"delete burst", r.remove}} {
		fmt.Printf("  %-13s floor %s  ours %s (%.2fx floor)  p50 %s  p99 %s  API writes/Service %.2f  ConfigMap writes/Service %.3f  ConfigMap bytes/Service %.0f  provider CPU %.1f s\n",
			row.name, seconds(row.p.floor), seconds(row.p.wall), row.p.wall.Seconds()/row.p.floor.Seconds(),
			seconds(row.p.p50), seconds(row.p.p99), row.p.apiWrites, row.p.cmWrites, row.p.cmBytesPerSvc, row.p.cpu.Seconds())
	}
	fmt.Printf("  %-13s all addressed %s after the provider started\n", "backlog drain", seconds(r.backlog.wall))
	fmt.Printf("  %-13s %d writes in %s, of which %d renew the leader-election lease: %v\n\n", "idle",
		r.idle.total, idleWindow, r.idle.byKind["PUT leases/"], r.idle.byKind)
}

func (r backlogResult) print(n int) {
	fmt.Printf("Backlog of %d Services, then the provider starts\n", n)
	fmt.Printf("  first decision %s after start; all addressed %s; CPU %.1f s; peak RSS %d MiB; ConfigMap %d KiB\n",
		seconds(r.firstDecision), seconds(r.all), r.cpu.Seconds(), r.peakRSS>>20, r.cmBytes>>10)
}
