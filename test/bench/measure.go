package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// phase is one timed run of one provider.
type phase struct {
	wall          time.Duration
	p50, p99      time.Duration
	apiWrites     float64       // per Service, by the provider, Events excluded
	cmWrites      float64       // per Service
	cmBytesPerSvc float64       // ConfigMap request bytes sent to the API server per Service
	cpu           time.Duration // the provider's CPU time during the phase
}

// runs are one provider's phases for one size.
type runs struct {
	create, remove, backlog phase
	idle                    writes // the provider's writes over idleWindow with nothing to do
}

// result is one round for one size: the floor, the null provider and ours.
type result struct {
	floorCreate, floorRemove time.Duration
	null, ours               runs
}

// idleWindow is how long the idle provider is watched for writes.
const idleWindow = 10 * time.Second

// measure runs every phase for n Services: the floor, then the null provider, then
// ours, on the same API server, so that the ratios compare like with like.
func (b *bench) measure(n int) (result, error) {
	var r result
	var err error
	b.stopProvider()
	if r.floorCreate, r.floorRemove, err = b.floor(names("floor", n)); err != nil {
		return r, err
	}
	if r.null, err = b.runAll(b.null, n); err != nil {
		return r, err
	}
	r.ours, err = b.runAll(b.ours, n)
	b.stopProvider()
	return r, err
}

// floor times the API server alone taking the service controller's requests.
func (b *bench) floor(items []string) (create, remove time.Duration, err error) {
	if create, err = b.timeAll(items, b.floorCreate); err != nil {
		return create, remove, err
	}
	if remove, err = b.timeAll(items, b.floorDelete); err != nil {
		return create, remove, err
	}
	_, err = b.waitAll(items, gone)
	return create, remove, err
}

// runAll runs the bursts, the idle count and the backlog drain with provider s.
func (b *bench) runAll(s subject, n int) (runs, error) {
	var r runs
	var err error
	b.stopProvider()
	if err := b.startProvider(s); err != nil {
		return r, err
	}
	if r.create, err = b.burst(names("burst", n), b.create, addressed); err != nil {
		return r, err
	}
	if r.remove, err = b.burst(names("burst", n), b.delete, gone); err != nil {
		return r, err
	}
	if r.idle, err = b.idleWrites(); err != nil {
		return r, err
	}
	b.stopProvider()
	r.backlog, err = b.drain(s, names("backlog", n))
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
func (b *bench) burst(items []string, do func(context.Context, string) error, cond func(*svcT, bool) bool) (phase, error) {
	before, err := b.apiserverWrites()
	if err != nil {
		return phase{}, err
	}
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
	p := phase{wall: latest(done).Sub(start)}
	p.p50, p.p99 = percentiles(items, starts, done)
	after, err := b.apiserverWrites()
	if err != nil {
		return phase{}, err
	}
	cpuAfter, _ := procStats(b.provider.PID())
	p.cpu = cpuAfter - cpuBefore
	n := float64(len(items))
	d := after.minus(before)
	if b.verbose {
		fmt.Printf("  API writes during the phase: %v\n", d.byKind)
	}
	p.apiWrites = float64(d.byProvider()) / n
	p.cmWrites = float64(d.configMaps) / n
	p.cmBytesPerSvc = d.configMapBytes / n
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

// drain creates the Services with no provider running, then starts s and times
// how long after its start every Service is addressed. Its CPU time is the
// process's whole life: start-up and informer sync are part of a drain.
func (b *bench) drain(s subject, items []string) (phase, error) {
	if _, err := b.parallel(items, b.create); err != nil {
		return phase{}, err
	}
	start := time.Now()
	if err := b.startProvider(s); err != nil {
		return phase{}, err
	}
	done, err := b.waitAll(items, addressed)
	if err != nil {
		return phase{}, err
	}
	p := phase{wall: latest(done).Sub(start)}
	p.cpu, _ = procStats(b.provider.PID())
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

// largeBacklog creates n Services with no provider running, then starts ours.
func (b *bench) largeBacklog(n int) (backlogResult, error) {
	var r backlogResult
	b.stopProvider()
	items := names("large", n)
	if _, err := b.parallel(items, b.create); err != nil {
		return r, err
	}
	start := time.Now()
	if err := b.startProvider(b.ours); err != nil {
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

// median picks, for each phase of each provider, the round with the median wall
// time, and the median floor.
func median(rs []result) result {
	return result{
		floorCreate: medianOf(rs, func(r result) time.Duration { return r.floorCreate }),
		floorRemove: medianOf(rs, func(r result) time.Duration { return r.floorRemove }),
		null:        medianRuns(rs, func(r result) runs { return r.null }),
		ours:        medianRuns(rs, func(r result) runs { return r.ours }),
	}
}

func medianRuns(rs []result, get func(result) runs) runs {
	pick := func(phaseOf func(runs) phase) phase {
		ps := make([]phase, len(rs))
		for i, r := range rs {
			ps[i] = phaseOf(get(r))
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].wall < ps[j].wall })
		return ps[len(ps)/2]
	}
	return runs{
		create:  pick(func(r runs) phase { return r.create }),
		remove:  pick(func(r runs) phase { return r.remove }),
		backlog: pick(func(r runs) phase { return r.backlog }),
		idle:    get(rs[len(rs)/2]).idle,
	}
}

func medianOf(rs []result, get func(result) time.Duration) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = get(r)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}
