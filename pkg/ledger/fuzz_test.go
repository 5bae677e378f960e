package ledger

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// fuzzPools are the pool files the sequence switches between: the start-up pool
// (10.0.0.1-10.0.0.6), one shifted up, and two namespaced pools with a reserved
// address and one avoiding .0. Addresses up to 10.0.0.11 are in play.
var fuzzPools = []string{
	"pools:\n- name: default\n  addresses: [10.0.0.0/29]\n",
	"pools:\n- name: b\n  addresses: [10.0.0.4-10.0.0.9]\n",
	"pools:\n- name: a\n  addresses: [10.0.0.0-10.0.0.2]\n  namespaces: [ns0]\n  avoidBuggyIPs: true\n" +
		"- name: c\n  addresses: [10.0.0.5-10.0.0.8]\nreserved: [10.0.0.6]\n",
}

// FuzzLedger runs random sequences of what the cluster does — syncs, request changes,
// status patches (late, or made by hand and wrong), deletes with and without a
// release, re-creates of a name under a new UID, late delete events, orphan sweeps,
// keys written by people, pool changes, rebuilds and takeovers (with the pools file
// valid or not) — and checks after every step what must always hold (see check).
func FuzzLedger(f *testing.F) {
	// Each step is three bytes: what happens (see step), which Service, which address.
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0, 0, 16, 32, 48, 64, 80, 96, 112, 128, 3, 19})
	// A conflict by hand, a rebuild, then the winner is deleted: the loser's status
	// must get the address (the rebuild forgot the loser).
	f.Add([]byte{0, 0, 0, 2, 0, 0, 3, 2, 1, 13, 0, 0, 4, 0, 0, 0, 4, 0})
	// A status edited by hand while the Service holds a fresh address, which a
	// hand-written key then takes: the status must be followed.
	f.Add([]byte{0, 4, 0, 3, 4, 9, 10, 0, 1})
	// A confirmed Service moves by request and loses the new address to a status
	// edited by hand: it falls back on its status, which nobody else may get.
	f.Add([]byte{0, 0, 0, 2, 0, 0, 1, 0, 5, 3, 1, 5, 0, 3, 0})
	// A conflict by hand whose winner sorts last, then a rebuild: the winner stays.
	f.Add([]byte{0, 1, 0, 2, 1, 0, 3, 0, 1, 13, 0, 0})
	// Delete without release and re-create, a late status patch, a late delete event.
	f.Add([]byte{0, 1, 0, 2, 1, 0, 8, 1, 1, 0, 1, 0, 2, 1, 0, 6, 0, 0, 9, 0, 0})
	// A takeover with the pools file invalid, a status by hand, pools valid again.
	f.Add([]byte{0, 0, 0, 2, 0, 0, 14, 0, 0, 3, 3, 9, 0, 5, 0, 12, 1, 1, 0, 5, 0, 4, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		w := newWorld(t)
		for i := 0; i+2 < len(ops); i += 3 {
			w.step(ops[i], ops[i+1], ops[i+2])
		}
	})
}

// object is a Service as the API server keeps it.
type object struct {
	uid     types.UID
	key     string
	request netip.Addr
	status  netip.Addr
	method  vipconfig.Method
	other   bool       // its type is not LoadBalancer any more
	patch   netip.Addr // what the last Ensure returned: the status patch to come
}

func (o *object) service() Service {
	s := svc(o.key)
	s.UID, s.Status, s.Request, s.Wants = o.uid, o.status, o.request, !o.other
	if o.method != "" {
		s.Method = o.method
	}
	return s
}

var methods = []vipconfig.Method{vipconfig.NAT, vipconfig.DR, vipconfig.PROXY}

// world is the cluster around one ledger.
type world struct {
	t       *testing.T
	l       *Ledger
	pools   *poolconfig.Config // in force; nil while the file is invalid
	live    map[string]*object
	gone    []types.UID       // deleted, their delete event not yet delivered
	foreign map[string]string // keys people wrote
	written map[string]string // the entries of ours the ConfigMap holds, as last written
	uids    int
	log     []string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, pools: fuzzPool(t, 0), live: map[string]*object{}, foreign: map[string]string{}, written: map[string]string{}}
	w.takeOver(w.pools, Size{})
	return w
}

// parsedPools are fuzzPools, parsed once: the ledger never changes a Config.
var parsedPools = sync.OnceValues(func() ([]*poolconfig.Config, error) {
	var out []*poolconfig.Config
	for _, file := range fuzzPools {
		cfg, _, err := poolconfig.Parse([]byte(file))
		if err != nil {
			return nil, err
		}
		out = append(out, cfg)
	}
	return out, nil
})

func fuzzPool(t *testing.T, i int) *poolconfig.Config {
	pools, err := parsedPools()
	if err != nil {
		t.Fatal(err)
	}
	return pools[i%len(pools)]
}

// takeOver is a new leader: a new ledger rebuilt from the cluster.
func (w *world) takeOver(pools *poolconfig.Config, capacity Size) {
	opts := Options{Pools: pools, AllowOutsidePools: true, ConfigMap: configMapName, Capacity: capacity}
	if pools == nil {
		opts.PoolsErr = errors.New("invalid pools file")
	}
	l, err := New(opts, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := l.Rebuild(w.services(), w.snapshot()); err != nil {
		w.t.Fatal(err)
	}
	w.l, w.pools = l, pools
}

// release is EnsureLoadBalancerDeleted, which returns once the entry is gone.
func (w *world) release(u types.UID) {
	if _, _, err := w.l.Release(u); err != nil {
		w.t.Fatal(err)
	}
	w.write()
}

func (w *world) services() []Service {
	var out []Service
	for _, o := range w.live {
		if !o.other {
			out = append(out, o.service())
		}
	}
	return out
}

// snapshot is the ConfigMap: the view last written and the foreign keys.
func (w *world) snapshot() vipconfig.Snapshot { return snapshot(w.foreign, w.written) }

// write is the writer publishing the current view.
func (w *world) write() {
	clear(w.written)
	for addr, e := range w.l.View().Entries {
		w.written[addr.String()] = e.Value()
	}
}

func (w *world) object(key string) *object {
	o := w.live[key]
	if o == nil {
		w.uids++
		o = &object{uid: types.UID(fmt.Sprintf("%s#%d", key, w.uids)), key: key}
		w.live[key] = o
	}
	return o
}

// ensure is a sync by the service controller deciding; the write and the status patch come later.
func (w *world) ensure(o *object) {
	before, _ := w.l.Holding(o.uid)
	addr, _, err := w.l.Ensure(o.service())
	if err != nil {
		return
	}
	o.patch = addr
	if !w.l.Holds(o.uid, addr) {
		w.fail("Ensure(%s) returned %s, which it does not hold", o.uid, addr)
	}
	if addr == before {
		return
	}
	if s := w.l.Stats(); addr != o.status && !s.Size.fits(s.Capacity) {
		w.fail("Ensure(%s) handed out %s, and the entries take %v of %v", o.uid, addr, s.Size, s.Capacity)
	}
	for _, other := range w.live {
		if other != o && !other.other && other.status == addr && !w.lagging(other) {
			w.fail("Ensure(%s) handed out %s, which the status of %s shows", o.uid, addr, other.uid)
		}
	}
}

// lagging reports whether o holds an address its status has not shown yet.
func (w *world) lagging(o *object) bool {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	r := w.l.services[o.uid]
	return r != nil && r.addr.IsValid() && !r.confirmed
}

func (w *world) delete(key string, release bool) {
	o := w.live[key]
	if o == nil {
		return
	}
	if release {
		w.release(o.uid) // the finalizer goes once the entry is gone
	}
	delete(w.live, key)
	w.gone = append(w.gone, o.uid)
}

func (w *world) step(op, k, a byte) {
	key := fmt.Sprintf("ns%d/s%d", k%2, k/2%3)
	addr := netip.AddrFrom4([4]byte{10, 0, 0, a % 13})
	if a%13 == 12 {
		addr = netip.Addr{}
	}
	kept := w.confirmed()
	touched := "" // the Service this step may move: by its request, its status or its type
	if o := op % 18; o == 1 || o == 2 || o == 3 || o == 17 {
		touched = key
	}
	switch op % 18 {
	case 0:
		o := w.object(key)
		o.method = methods[a%3]
		w.log = append(w.log, fmt.Sprintf("ensure %s (%s)", key, o.method))
		if !o.other {
			w.ensure(o)
		}
	case 1: // asking for another address is the one way to move
		w.log = append(w.log, fmt.Sprintf("ensure %s asking %s", key, addr))
		o := w.object(key)
		o.request = addr
		if !o.other {
			w.ensure(o)
		}
	case 2: // the write is durable; Ensure returns if the Service still holds what it decided
		w.log = append(w.log, "write and status patch of "+key)
		w.write()
		if o := w.live[key]; o != nil && o.patch.IsValid() && w.l.Holds(o.uid, o.patch) {
			o.status = o.patch
			w.l.ObserveService(o.service())
		}
	case 3:
		w.log = append(w.log, fmt.Sprintf("status of %s set by hand to %s", key, addr))
		o := w.object(key)
		o.status = addr
		w.l.ObserveService(o.service())
	case 4, 5:
		w.log = append(w.log, fmt.Sprintf("delete %s, released %v", key, op%18 == 4))
		w.delete(key, op%18 == 4)
	case 6, 7:
		if len(w.gone) == 0 {
			return
		}
		i := int(a) % len(w.gone)
		u := w.gone[i]
		if op%18 == 6 {
			w.log = append(w.log, fmt.Sprintf("late delete event of %s", u))
			w.l.ServiceGone(u)
			w.gone = slices.Delete(w.gone, i, i+1)
		} else {
			w.log = append(w.log, fmt.Sprintf("late release of %s", u))
			w.release(u)
		}
	case 8:
		w.log = append(w.log, fmt.Sprintf("re-create %s, released %v", key, a%2 == 0))
		w.delete(key, a%2 == 0)
		w.ensure(w.object(key))
	case 9:
		w.log = append(w.log, "orphan sweep")
		for _, u := range w.l.Orphans(func(key string, u types.UID) bool { o := w.live[key]; return o != nil && o.uid == u }) {
			w.l.ServiceGone(u)
		}
	case 10:
		// A key the ConfigMap lists as ours stays ours, whatever its value: the writer reverts it.
		if _, ours := w.written[addr.String()]; addr.IsValid() && !ours {
			w.log = append(w.log, fmt.Sprintf("foreign key %s written", addr))
			w.foreign[addr.String()] = "hand/written"
		}
		w.l.ObserveConfigMap(w.snapshot())
	case 11:
		w.log = append(w.log, fmt.Sprintf("foreign key %s removed", addr))
		delete(w.foreign, addr.String())
		w.l.ObserveConfigMap(w.snapshot())
	case 12:
		w.log = append(w.log, fmt.Sprintf("pools %d", a%3))
		cfg := fuzzPool(w.t, int(a%3))
		if err := w.l.SetPools(cfg); err != nil {
			w.t.Fatal(err)
		}
		w.pools = cfg
	case 13:
		w.log = append(w.log, "rebuild")
		if err := w.l.Rebuild(w.services(), w.snapshot()); err != nil {
			w.t.Fatal(err)
		}
	case 14:
		var cfg *poolconfig.Config
		if a%4 != 0 {
			cfg = fuzzPool(w.t, int(a%3))
		}
		var capacity Size
		if a&16 != 0 { // room for four or so entries
			capacity = Size{Data: 64, Annotation: 40}
		}
		w.log = append(w.log, fmt.Sprintf("takeover, pools valid %v, capacity %v", cfg != nil, capacity))
		w.takeOver(cfg, capacity)
	case 15:
		w.log = append(w.log, "resync of "+key)
		if o := w.live[key]; o != nil {
			w.l.ObserveService(o.service())
		}
	case 16:
		w.log = append(w.log, "write")
		w.write()
	case 17: // the type changes: the controller releases, then clears the status
		o := w.live[key]
		if o == nil {
			return
		}
		w.log = append(w.log, fmt.Sprintf("type of %s changed, LoadBalancer %v", key, o.other))
		o.other = !o.other
		w.l.ObserveService(o.service())
		if o.other {
			w.release(o.uid)
			o.status, o.patch = netip.Addr{}, netip.Addr{}
			w.l.ObserveService(o.service())
		} else {
			w.ensure(o)
		}
	}
	w.check(kept, touched, op%18 == 13 || op%18 == 14)
}

// confirmed lists the live Services that hold the address their status shows,
// and ask for no other one.
func (w *world) confirmed() map[types.UID]netip.Addr {
	out := map[types.UID]netip.Addr{}
	for _, o := range w.live {
		if !o.other && o.status.IsValid() && w.l.Holds(o.uid, o.status) && (!o.request.IsValid() || o.request == o.status) {
			out[o.uid] = o.status
		}
	}
	return out
}

func (w *world) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("after %q:\n"+format, append([]any{w.log}, args...)...)
}

// check asserts what must hold after every step:
//   - no address is held by two UIDs, and every address in use has one owner that
//     holds it or waits for it;
//   - the view publishes only held addresses, each under its holder's name, never
//     one a foreign key holds, and every held address it leaves out a foreign key blocks;
//   - every address a live status shows is in use (never free), unless that Service
//     holds an address its status has not shown yet;
//   - a Service holding the address its status shows keeps it, unless the step
//     acted on it;
//   - the allocator's in-use counts and the size accounting match the owners and
//     the view.
func (w *world) check(kept map[types.UID]netip.Addr, touched string, rebuilt bool) {
	w.t.Helper()
	view, stats := w.l.View(), w.l.Stats()
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	holder := map[netip.Addr]*record{}
	for u, r := range l.services {
		if r.uid != u {
			w.fail("record %s filed under %s", r.uid, u)
		}
		if !r.addr.IsValid() {
			continue
		}
		if other := holder[r.addr]; other != nil {
			w.fail("%s held by %s and %s", r.addr, other.uid, r.uid)
		}
		holder[r.addr] = r
		if o := l.owners[r.addr]; o == nil || o.svc != r {
			w.fail("%s holds %s, which is not its own", r.uid, r.addr)
		}
	}
	for addr, o := range l.owners {
		_, hand := w.foreign[addr.String()]
		switch {
		case o.foreign != hand:
			w.fail("%s: foreign owner %v, but the ConfigMap has a hand-written key: %v", addr, o.foreign, hand)
		case o.svc == nil && !o.foreign:
			w.fail("%s is in use by nobody", addr)
		case o.svc != nil && o.svc.addr != addr && o.svc.request != addr:
			w.fail("%s is owned by %s, which neither holds nor waits for it", addr, o.svc.uid)
		case o.svc != nil && l.services[o.svc.uid] != o.svc:
			w.fail("%s is owned by %s, which the ledger forgot", addr, o.svc.uid)
		}
	}
	var size Size
	for addr, e := range view.Entries {
		if r := holder[addr]; r == nil || r.key != e.Service {
			w.fail("view publishes %s for %s, which does not hold it", addr, e.Service)
		}
		if _, hand := w.foreign[addr.String()]; hand {
			w.fail("view overwrites the hand-written key %s", addr)
		}
		size = size.add(entrySize(addr, e), 1)
	}
	blocked := 0
	for addr, r := range holder {
		if _, ok := view.Entries[addr]; !ok {
			if !l.owners[addr].foreign {
				w.fail("%s is held by %s but not published", addr, r.uid)
			}
			size, blocked = size.add(entrySize(addr, r.entry), 1), blocked+1
		}
	}
	if stats.Size != size || l.size != size || stats.Entries != len(holder) || stats.BlockedByKeys != blocked {
		w.fail("stats say %d entries (%d blocked) of size %v; the view has %d (%d blocked) of size %v",
			stats.Entries, stats.BlockedByKeys, stats.Size, len(holder), blocked, size)
	}
	for _, o := range w.live {
		if o.other || !o.status.IsValid() {
			continue
		}
		if r := l.services[o.uid]; r != nil && r.addr.IsValid() && !r.confirmed {
			continue // its status lags behind a new decision
		}
		if _, used := l.owners[o.status]; !used {
			w.fail("%s is free, but the status of %s shows it", o.status, o.uid)
		}
	}
	for u, addr := range kept {
		if o := w.live[touched]; o != nil && o.uid == u {
			continue
		}
		if o := w.live[keyOf(u)]; o == nil || o.uid != u {
			continue // deleted
		}
		if r := l.services[u]; (r == nil || r.addr != addr) && !w.undecided(rebuilt, u, addr) {
			w.fail("%s lost %s, which its status shows", u, addr)
		}
	}
	w.checkPools(stats)
}

// undecided reports whether a rebuild could not tell that u holds addr: the
// ConfigMap written last does not show it, and another status shows it too.
func (w *world) undecided(rebuilt bool, u types.UID, addr netip.Addr) bool {
	if !rebuilt || w.written[addr.String()] == keyOf(u) {
		return false
	}
	return slices.ContainsFunc(slices.Collect(maps.Values(w.live)), func(o *object) bool { return o.uid != u && !o.other && o.status == addr })
}

// keyOf is the key of an object's UID ("<key>#<n>").
func keyOf(u types.UID) string {
	s := string(u)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '#' {
			return s[:i]
		}
	}
	return s
}

// checkPools compares the allocator's counts with the addresses in use.
func (w *world) checkPools(stats Stats) {
	w.t.Helper()
	want := map[string]uint64{}
	var names []string
	if w.pools != nil {
		pools := w.pools.IPAMPools()
		for _, p := range pools {
			names, want[p.Name] = append(names, p.Name), 0
		}
		for addr := range w.l.owners {
			if name, ok := slotPool(pools, addr); ok {
				want[name]++
			}
		}
	}
	got := map[string]uint64{}
	var gotNames []string
	for _, u := range stats.Pools {
		got[u.Name] = u.InUse
		gotNames = append(gotNames, u.Name)
	}
	if !slices.Equal(names, gotNames) || !maps.Equal(got, want) {
		w.fail("allocator counts %v in use in pools %v; the owners make %v in %v", got, gotNames, want, names)
	}
}

// slotPool names the pool whose slot addr takes, if any.
func slotPool(pools []ipam.Pool, addr netip.Addr) (string, bool) {
	last := addr.As4()[3]
	for _, p := range pools {
		for _, r := range p.Ranges {
			if r.Contains(addr) {
				return p.Name, !p.AvoidBuggyIPs || (last != 0 && last != 255)
			}
		}
	}
	return "", false
}
