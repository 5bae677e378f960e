package vipconfig

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWriterGroupCommit: many changes made at once go out in far fewer writes, and
// each caller returns only once a write carries its change.
func TestWriterGroupCommit(t *testing.T) {
	h := newHarness(t)
	h.run()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			addr, service := nthAddr(i), fmt.Sprintf("ns/s%d", i)
			gen := h.views.set(addr, nat(service))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.w.Wait(ctx, gen); err != nil {
				t.Error(err)
				return
			}
			cm, err := h.api.Clientset.CoreV1().ConfigMaps(testNS).Get(ctx, testName, metav1.GetOptions{})
			if err != nil || cm.Data[addr] != service {
				t.Errorf("Wait returned before entry %s was written (%v)", addr, err)
			}
		})
	}
	wg.Wait()
	writes := h.api.served("create") + h.api.served("update")
	t.Logf("%d changes, %d writes", n, writes)
	if writes >= n/2 {
		t.Errorf("%d writes for %d changes: the writer does not batch", writes, n)
	}
}

// TestWriterRaces: a write that lost a race to someone else is retried on a fresh
// read and lands, keeping what the other wrote.
func TestWriterRaces(t *testing.T) {
	note := func(cm *corev1.ConfigMap) { cm.Data["note"] = "hand-written" }
	tests := []struct {
		name      string
		race      func(h *harness) // after the first write of 10.0.0.1
		wantCalls []string         // the writer's calls for the next change
		wantNote  bool
		wantDrift Drift
	}{
		{
			name:      "update conflicts: read afresh",
			race:      func(h *harness) { h.someoneElse(note) },
			wantCalls: []string{"update", "get", "update"},
			wantNote:  true,
		},
		{
			name:      "deleted, the informer told",
			race:      func(h *harness) { h.deleteAsSomeoneElse(); h.w.Observed(nil) },
			wantCalls: []string{"get", "create"},
			wantDrift: Drift{Recreated: true},
		},
		{
			name:      "deleted, the informer not yet",
			race:      func(h *harness) { h.deleteAsSomeoneElse() },
			wantCalls: []string{"update", "get", "create"},
			wantDrift: Drift{Recreated: true},
		},
		{
			name: "re-created by someone else before our create",
			race: func(h *harness) {
				h.deleteAsSomeoneElse()
				h.w.Observed(nil)
				var once sync.Once
				h.api.setIntercept(func(_ context.Context, verb string) error {
					if verb == "create" {
						once.Do(func() { h.someoneElse(note) })
					}
					return nil
				})
			},
			wantCalls: []string{"get", "create", "get", "update"},
			wantNote:  true,
			wantDrift: Drift{Entries: map[netip.Addr]Entry{netip.MustParseAddr("10.0.0.1"): nat("a/x")}, Annotation: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.views.set("10.0.0.1", nat("a/x"))
			h.sync()
			tt.race(h)
			mark := len(h.api.recorded())
			gen := h.views.set("10.0.0.2", nat("b/y"))
			h.sync()
			if err := h.w.Wait(context.Background(), gen); err != nil {
				t.Fatalf("Wait = %v, want the change written", err)
			}
			if got := h.calls(mark); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tt.wantCalls)
			}
			cm := h.stored()
			if cm.Data["10.0.0.1"] != "a/x" || cm.Data["10.0.0.2"] != "b/y" || (cm.Data["note"] != "") != tt.wantNote {
				t.Errorf("stored data = %v, want both entries (and the other's note: %v)", cm.Data, tt.wantNote)
			}
			assertDrift(t, h.lastRound().Drift, tt.wantDrift)
		})
	}
}

// TestWriterFailureReachesEveryWaiter: a failed call fails every caller waiting
// for the changes it carried, and the next round that succeeds serves them.
func TestWriterFailureReachesEveryWaiter(t *testing.T) {
	injected := apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	tests := []struct {
		name, verb string
		exists     bool
	}{
		{name: "read fails", verb: "get"},
		{name: "create fails", verb: "create"},
		{name: "update fails", verb: "update", exists: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.exists {
				h.someoneElse(func(cm *corev1.ConfigMap) {})
			}
			h.api.setIntercept(failWith(tt.verb, injected))
			writes := h.api.served("create") + h.api.served("update")
			gens := make([]uint64, 20)
			for i := range gens {
				gens[i] = h.views.set(nthAddr(i), nat(fmt.Sprintf("ns/s%d", i)))
			}
			for _, err := range waitAll(h, gens, h.sync) {
				if !errors.Is(err, injected) || !strings.Contains(err.Error(), "ConfigMap kube-system/vip-configmap") {
					t.Errorf("Wait = %v, want the API server's error naming the ConfigMap", err)
				}
			}
			if n := h.api.served("create") + h.api.served("update") - writes; n != 0 {
				t.Errorf("%d writes reached the API server, want none", n)
			}
			// Until a round succeeds, callers get the failure at once; then success.
			h.api.setIntercept(nil)
			h.sync()
			for _, err := range waitAll(h, gens, func() {}) {
				if err != nil {
					t.Errorf("Wait after the API server recovered = %v, want nil", err)
				}
			}
		})
	}
}

// waitAll has one caller wait for each generation while round runs, and returns
// what each Wait returned.
func waitAll(h *harness, gens []uint64, round func()) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make([]error, len(gens))
	var wg sync.WaitGroup
	for i, gen := range gens {
		wg.Go(func() { errs[i] = h.w.Wait(ctx, gen) })
	}
	round()
	wg.Wait()
	return errs
}

// TestWriterDeadlines: a stalled call ends at its own deadline, or at the lease's
// if that is sooner, and fails the waiting callers instead of hanging them.
func TestWriterDeadlines(t *testing.T) {
	tests := []struct {
		name      string
		verb      string // the call that stalls
		exists    bool
		timeout   time.Duration // callTimeout
		lease     time.Duration // 0: no Lease hook
		wantAfter time.Duration // when the stalled call must end
		wantCause string
	}{
		{name: "stalled read", verb: "get", timeout: 50 * time.Millisecond, wantAfter: 50 * time.Millisecond, wantCause: "did not answer within 50ms"},
		{name: "stalled create", verb: "create", timeout: 50 * time.Millisecond, wantAfter: 50 * time.Millisecond, wantCause: "did not answer within 50ms"},
		{name: "stalled update", verb: "update", exists: true, timeout: 50 * time.Millisecond, wantAfter: 50 * time.Millisecond, wantCause: "did not answer within 50ms"},
		{name: "lease ends sooner than the call's deadline", verb: "update", exists: true, timeout: time.Minute, lease: 50 * time.Millisecond, wantAfter: 50 * time.Millisecond, wantCause: "lease ran out"},
		{name: "call's deadline sooner than the lease's", verb: "update", exists: true, timeout: 50 * time.Millisecond, lease: time.Hour, wantAfter: 50 * time.Millisecond, wantCause: "did not answer within 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			override(t, &callTimeout, tt.timeout)
			h := newHarness(t, func(hk *Hooks) {
				if tt.lease > 0 {
					hk.Lease = func() (time.Time, error) { return time.Now().Add(tt.lease), nil }
				}
			})
			if tt.exists {
				h.someoneElse(func(cm *corev1.ConfigMap) {})
			}
			h.api.setIntercept(stall(tt.verb))
			h.run()
			gen := h.views.set("10.0.0.1", nat("a/x"))
			start := time.Now()
			err := waitAll(h, []uint64{gen}, func() {})[0]
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tt.wantCause) {
				t.Errorf("Wait = %v, want a deadline error saying %q", err, tt.wantCause)
			}
			if elapsed < tt.wantAfter || elapsed > tt.wantAfter+2*time.Second {
				t.Errorf("Wait returned after %v, want soon after %v", elapsed, tt.wantAfter)
			}
			assertDeadlines(t, h.api.recorded(), start, tt.timeout, tt.lease)
		})
	}
}

// assertDeadlines checks that every call carried a deadline no later than the
// call's own, and every write none later than the lease's.
func assertDeadlines(t *testing.T, calls []apiCall, start time.Time, timeout, lease time.Duration) {
	t.Helper()
	if len(calls) == 0 {
		t.Fatal("no calls recorded")
	}
	for _, c := range calls {
		limit := timeout
		if c.verb != "get" && lease > 0 {
			limit = min(limit, lease)
		}
		if c.deadline.IsZero() || c.deadline.After(time.Now().Add(limit)) || c.deadline.Before(start) {
			t.Errorf("%s carried deadline %v, want one within %v of %v", c.verb, c.deadline, limit, start)
		}
	}
}

var errNotLeading = errors.New("this replica does not hold the lease")

// TestWriterLease: the Lease hook is asked right before every write; when it
// refuses, nothing is written and the waiting callers get its error.
func TestWriterLease(t *testing.T) {
	tests := []struct {
		name      string
		allow     int              // the hook allows this many calls, then refuses
		deadline  time.Duration    // the deadline it gives when it allows
		before    func(h *harness) // after the first write, which the hook allows
		wantCalls []string         // the writer's calls for the next change
		wantErr   error
		wantLease int // the hook's calls in all
	}{
		{name: "refused: nothing is sent", allow: 1, wantCalls: []string{}, wantErr: errNotLeading, wantLease: 2},
		{
			name:  "refused on the retry after a conflict",
			allow: 2, before: func(h *harness) { h.someoneElse(func(cm *corev1.ConfigMap) { cm.Data["note"] = "x" }) },
			wantCalls: []string{"update", "get"}, wantErr: errNotLeading, wantLease: 3,
		},
		{
			name:  "refused after a fresh read",
			allow: 1, before: func(h *harness) { h.w.Observed(h.someoneElse(func(cm *corev1.ConfigMap) { cm.Data["note"] = "x" })) },
			wantCalls: []string{"get"}, wantErr: errNotLeading, wantLease: 2,
		},
		{name: "ran out before the send: a process frozen since the check", allow: 2, deadline: -time.Millisecond, wantCalls: []string{}, wantErr: errLeaseRanOut, wantLease: 2},
		{name: "allowed", allow: 2, deadline: time.Minute, wantCalls: []string{"update"}, wantLease: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			asked := 0
			lease := func() (time.Time, error) {
				mu.Lock()
				defer mu.Unlock()
				asked++
				switch {
				case asked > tt.allow:
					return time.Time{}, errNotLeading
				case asked == 1 || tt.deadline == 0:
					return time.Time{}, nil // the first write always goes
				}
				return time.Now().Add(tt.deadline), nil
			}
			h := newHarness(t, func(hk *Hooks) { hk.Lease = lease })
			h.views.set("10.0.0.1", nat("a/x"))
			h.sync()
			if tt.before != nil {
				tt.before(h)
			}
			mark, writes := len(h.api.recorded()), h.api.served("update")
			gens := []uint64{h.views.set("10.0.0.2", nat("b/y"))}
			for _, err := range waitAll(h, append(gens, gens[0]), h.sync) {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Wait = %v, want %v", err, tt.wantErr)
				}
			}
			if got := h.calls(mark); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tt.wantCalls)
			}
			if tt.wantErr != nil && (h.api.served("update") > writes+len(tt.wantCalls) || h.stored().Data["10.0.0.2"] != "") {
				t.Error("the entry was written although the lease check refused")
			}
			if asked != tt.wantLease {
				t.Errorf("the Lease hook was asked %d times, want %d (once before each write)", asked, tt.wantLease)
			}
		})
	}
}

// TestWriterRemembersOwnVersions: an echo of one of our writes that arrives late,
// after more than 256 writes in all, is still taken as ours: the next write starts
// from our last one, with no fresh read and no repair reported.
func TestWriterRemembersOwnVersions(t *testing.T) {
	h := newHarness(t)
	var echoes []*corev1.ConfigMap
	for i := range 300 {
		h.views.set("10.0.0.1", nat(fmt.Sprintf("ns/s%d", i))) // one small entry, rewritten
		h.sync()
		echoes = append(echoes, h.stored())
	}
	tests := []struct {
		name     string
		echo     *corev1.ConfigMap
		wantRead bool
	}{
		{name: "echo 50 writes late is ours", echo: echoes[250]},
		{name: "echo of our last write is ours", echo: echoes[299]},
		{name: "echo older than the last 256 writes costs a fresh read", echo: echoes[10], wantRead: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, observedBefore := h.heard()
			mark := len(h.api.recorded())
			h.w.Observed(tt.echo)
			h.views.set(nthAddr(1000+i), nat("ns/late"))
			h.sync()
			_, observed := h.heard()
			read := slices.Contains(h.calls(mark), "get")
			if read != tt.wantRead || (observed > observedBefore) != tt.wantRead {
				t.Errorf("fresh read = %v, Observe called = %v; want both %v", read, observed > observedBefore, tt.wantRead)
			}
			assertDrift(t, h.lastRound().Drift, Drift{})
		})
	}
}

// TestWriterDriftDescribesWrittenView: a repair is reported with the entry the
// write restored, from the view that was written; an address released or given
// to another Service since someone else's edit is a change, not a repair.
func TestWriterDriftDescribesWrittenView(t *testing.T) {
	x, y := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	tests := []struct {
		name   string
		edit   func(cm *corev1.ConfigMap) // someone else's, after our write of x and y
		change func(v *views)             // the ledger's, before the next write
		want   map[netip.Addr]Entry
	}{
		{name: "deleted by hand", edit: func(cm *corev1.ConfigMap) { delete(cm.Data, "10.0.0.1") }, want: map[netip.Addr]Entry{x: nat("a/x")}},
		{name: "edited by hand", edit: func(cm *corev1.ConfigMap) { cm.Data["10.0.0.1"] = "ops/other" }, want: map[netip.Addr]Entry{x: nat("a/x")}},
		{
			name:   "released meanwhile: not reported",
			edit:   func(cm *corev1.ConfigMap) { delete(cm.Data, "10.0.0.1"); delete(cm.Data, "10.0.0.2") },
			change: func(v *views) { v.drop("10.0.0.2") },
			want:   map[netip.Addr]Entry{x: nat("a/x")},
		},
		{
			name:   "handed to another Service meanwhile: not a repair",
			edit:   func(cm *corev1.ConfigMap) { delete(cm.Data, "10.0.0.1") },
			change: func(v *views) { v.set("10.0.0.1", nat("c/z")) },
		},
		{
			name:   "forward method changed meanwhile: reported as written",
			edit:   func(cm *corev1.ConfigMap) { delete(cm.Data, "10.0.0.2") },
			change: func(v *views) { v.set("10.0.0.2", Entry{Service: "b/y", Method: DR}) },
			want:   map[netip.Addr]Entry{y: {Service: "b/y", Method: DR}},
		},
		{
			name:   "edited to what we write next: nothing to repair",
			edit:   func(cm *corev1.ConfigMap) { cm.Data["10.0.0.2"] = "b/y:DR" },
			change: func(v *views) { v.set("10.0.0.2", Entry{Service: "b/y", Method: DR}); v.set("10.0.0.3", nat("c/z")) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.views.set("10.0.0.1", nat("a/x"))
			h.views.set("10.0.0.2", nat("b/y"))
			h.sync()
			h.w.Observed(h.someoneElse(tt.edit))
			if tt.change != nil {
				tt.change(h.views)
			} else {
				h.views.change(func(map[netip.Addr]Entry) {})
			}
			h.sync()
			r := h.lastRound()
			if !r.Written {
				t.Fatal("nothing was written")
			}
			assertDrift(t, r.Drift, Drift{Entries: tt.want})
		})
	}
}

// TestWriterBlockedEntriesNotPublished: an entry whose key someone else wrote is
// reported as blocked in every round that sees it, written or not, and is not
// remembered as published: once the key goes, writing it is no repair.
func TestWriterBlockedEntriesNotPublished(t *testing.T) {
	h := newHarness(t)
	h.someoneElse(func(cm *corev1.ConfigMap) { cm.Data["10.0.0.1"] = "ops/manual" })
	h.views.set("10.0.0.1", nat("a/x"))
	h.views.set("10.0.0.2", nat("b/y"))
	blocked := map[netip.Addr]Entry{netip.MustParseAddr("10.0.0.1"): nat("a/x")}
	steps := []struct {
		name        string
		act         func()
		wantWritten bool
		wantBlocked map[netip.Addr]Entry
		wantValue   string // of 10.0.0.1 afterwards
		wantOwned   string // the ownership annotation afterwards
	}{
		{name: "written around the foreign key", act: func() {}, wantWritten: true, wantBlocked: blocked, wantValue: "ops/manual", wantOwned: "10.0.0.2"},
		{name: "nothing to write, still blocked", act: func() {}, wantBlocked: blocked, wantValue: "ops/manual", wantOwned: "10.0.0.2"},
		{
			name:        "foreign key removed: written, no repair",
			act:         func() { h.w.Observed(h.someoneElse(func(cm *corev1.ConfigMap) { delete(cm.Data, "10.0.0.1") })) },
			wantWritten: true, wantValue: "a/x", wantOwned: "10.0.0.1,10.0.0.2",
		},
	}
	for _, s := range steps {
		s.act()
		gen := h.views.change(func(map[netip.Addr]Entry) {})
		rounds, _ := h.heard()
		h.sync()
		if err := h.w.Wait(context.Background(), gen); err != nil {
			t.Fatalf("%s: Wait = %v", s.name, err)
		}
		if now, _ := h.heard(); now == rounds {
			t.Fatalf("%s: the Wrote hook was not called", s.name)
		}
		r := h.lastRound()
		if r.Written != s.wantWritten || !maps.Equal(r.Blocked, s.wantBlocked) {
			t.Errorf("%s: Written = %v, Blocked = %s; want %v, %s", s.name, r.Written, entriesString(r.Blocked), s.wantWritten, entriesString(s.wantBlocked))
		}
		assertDrift(t, r.Drift, Drift{})
		cm := h.stored()
		if got, owned := cm.Data["10.0.0.1"], cm.Annotations[OwnedAnnotation]; got != s.wantValue || owned != s.wantOwned {
			t.Errorf("%s: 10.0.0.1 = %q, owned %q; want %q, %q", s.name, got, owned, s.wantValue, s.wantOwned)
		}
	}
}

func assertDrift(t *testing.T, got, want Drift) {
	t.Helper()
	if got.Recreated != want.Recreated || got.Annotation != want.Annotation || !maps.Equal(got.Entries, want.Entries) {
		t.Errorf("drift = {Recreated:%v Annotation:%v Entries:%s}, want {Recreated:%v Annotation:%v Entries:%s}",
			got.Recreated, got.Annotation, entriesString(got.Entries), want.Recreated, want.Annotation, entriesString(want.Entries))
	}
}
