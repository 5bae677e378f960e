package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestRecreateSameNames: in a nearly full /28 (14 addresses; 12 held by other Services),
// Services are deleted and at once re-created with the same names, round after round,
// one at a time and several at once (fillers included). Identity is the UID: a late
// event about the old object must never touch its successor. At every revision of the
// Services no two live Services report one address (a watch sees each change); after
// each round every Service has an address of the pool, each status is backed by its
// own ConfigMap entry ("<ns>/<name>") and no entry of the namespace is left without a
// live Service whose status shows it; and that stays so after the last round. The last
// rounds re-create all 14 at once, which keeps the provider's informer listener busy
// while the service controller already ensures the successors; the very last ones strip
// the finalizer, so the successor may be ensured before the old object's delete event
// reaches the provider.
func TestRecreateSameNames(t *testing.T) {
	const pool = "10.210.231.0/28"
	e := newEnv(t, config{pool: pool})
	var all []string
	for i := 0; i < 12; i++ {
		all = append(all, fmt.Sprintf("filler%02d", i))
	}
	again := []string{"again-a", "again-b"}
	all = append(all, again...)
	for _, name := range all {
		e.createService(name)
	}
	e.waitAllAddressed("setup", all)
	e.waitConsistentStep("setup", assignTimeout)
	w := e.watchStatuses()

	rounds := []struct {
		what       string
		names      []string
		concurrent bool
		force      bool // strip the finalizer: gone at once, never released by the controller
		paused     bool // the provider is frozen meanwhile: it learns everything in one burst
	}{
		{what: "one at a time", names: again},
		{what: "one at a time", names: again},
		{what: "one at a time", names: again},
		{what: "both at once", names: again, concurrent: true},
		{what: "both at once", names: again, concurrent: true},
		{what: "both at once", names: again, concurrent: true},
		{what: "both and two fillers at once", names: append([]string{"filler00", "filler07"}, again...), concurrent: true},
		{what: "both and two fillers at once", names: append([]string{"filler03", "filler11"}, again...), concurrent: true},
		{what: "every Service at once", names: all, concurrent: true},
		{what: "every Service at once", names: all, concurrent: true},
		{what: "every Service at once", names: all, concurrent: true},
		{what: "every Service at once", names: all, concurrent: true},
		{what: "finalizer removed by hand, both at once", names: again, concurrent: true, force: true},
		{what: "finalizer removed by hand, both at once", names: again, concurrent: true, force: true},
		{what: "finalizer removed by hand while the provider is frozen for 1 s", names: again, concurrent: true, force: true, paused: true},
		{what: "finalizer removed by hand while the provider is frozen for 1 s", names: again, concurrent: true, force: true, paused: true},
	}
	for i, r := range rounds {
		step := fmt.Sprintf("round %d (%s: %s)", i+1, r.what, strings.Join(r.names, ", "))
		if len(r.names) == len(all) {
			step = fmt.Sprintf("round %d (%s)", i+1, r.what)
		}
		start := time.Now()
		before := map[string]types.UID{}
		for _, name := range r.names {
			before[name] = e.getService(name).UID
		}
		if r.paused {
			// Well within the renew deadline (3 s): it stays the leader.
			if err := syscall.Kill(e.p.PID(), syscall.SIGSTOP); err != nil {
				t.Fatalf("step %s: pausing the provider: %v", step, err)
			}
			resume := time.AfterFunc(time.Second, func() { _ = syscall.Kill(e.p.PID(), syscall.SIGCONT) })
			t.Cleanup(func() { resume.Stop(); _ = syscall.Kill(e.p.PID(), syscall.SIGCONT) })
		}
		if r.concurrent {
			var wg sync.WaitGroup
			errs := make(chan error, len(r.names))
			for _, name := range r.names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- e.recreate(name, r.force)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("step %s: %v", step, err)
				}
			}
		} else {
			for _, name := range r.names {
				if err := e.recreate(name, r.force); err != nil {
					t.Fatalf("step %s: %v", step, err)
				}
			}
		}
		for _, name := range r.names {
			if uid := e.getService(name).UID; uid == before[name] {
				t.Fatalf("step %s: %s still has UID %s: it was not re-created", step, name, uid)
			}
		}
		ips := e.waitAllAddressed(step, all)
		for _, name := range all {
			if !inPool(t, ips[name], pool) {
				t.Errorf("step %s: %s has %s, outside the pool %s", step, name, ips[name], pool)
			}
		}
		e.waitConsistentStep(step, assignTimeout)
		if _, dups := w.check(step); len(dups) > 0 {
			t.Fatalf("step %s: live Services reported one address at once:\n%s", step, strings.Join(dups, "\n"))
		}
		t.Logf("%s: all %d Services addressed and published %s after it began", step, len(all), time.Since(start).Round(10*time.Millisecond))
	}
	e.waitStaysConsistent("after the last round", 3*time.Second)
	events, dups := w.check("after the last round")
	if len(dups) > 0 {
		t.Errorf("live Services reported one address at once:\n%s", strings.Join(dups, "\n"))
	}
	t.Logf("the watch saw %d changes of the Services; no two live Services ever reported one address", events)
}

// recreate deletes the Service and creates it again, with the same name, as soon as the
// old object is gone (its finalizer keeps it until the provider released its address).
// With force the finalizer is removed by hand, as an impatient operator does: the old
// object is gone at once and only the provider's informer tells it so.
func (e *env) recreate(name string, force bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	api := e.c.CoreV1().Services(e.ns)
	if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	if force {
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := api.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing the finalizer of %s: %w", name, err)
		}
	}
	var last error
	err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, last = api.Create(ctx, newService(e.ns, name), metav1.CreateOptions{})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("re-creating %s within %s of deleting it: %w (last error: %w)", name, assignTimeout, err, last)
	}
	return nil
}

// waitAllAddressed waits until every one of names has an address and returns them all.
func (e *env) waitAllAddressed(step string, names []string) map[string]string {
	e.t.Helper()
	var ips map[string]string
	var missing []string
	ok := pollFor(60*time.Second, func(ctx context.Context) bool {
		ips, missing = e.statusAddresses(ctx), nil
		for _, name := range names {
			if ips[name] == "" {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		var why []string
		for _, name := range missing {
			evs, _ := eventsOf(e, name)
			if n := len(evs); n > 0 {
				why = append(why, fmt.Sprintf("%s: last event %s: %s", name, evs[n-1].Reason, evs[n-1].Message))
			} else {
				why = append(why, name+": no event")
			}
		}
		e.t.Fatalf("step %s: Services without an address after 60 s: %v; usage %q\n%s", step, missing, e.usage(), strings.Join(why, "\n"))
	}
	return ips
}

// waitConsistentStep is waitConsistent naming the step on failure.
func (e *env) waitConsistentStep(step string, timeout time.Duration) {
	e.t.Helper()
	var diff string
	if !pollFor(timeout, func(ctx context.Context) bool {
		var ok bool
		diff, ok = e.consistent(ctx)
		return ok
	}) {
		e.t.Fatalf("step %s: the ConfigMap and the Services' status disagree after %s: %s", step, timeout, diff)
	}
}
