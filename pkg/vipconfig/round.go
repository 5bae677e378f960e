package vipconfig

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// sync brings the ConfigMap in line with the view and returns the size written.
func (w *Writer) sync(ctx context.Context) int {
	if !w.hooks.Ready() {
		return 0
	}
	var round Round
	fresh := false
	err := retry.OnError(raceBackoff, isRace, func() error {
		var err error
		round, err = w.attempt(ctx, fresh)
		fresh = true
		return err
	})
	switch {
	case err != nil:
		err = fmt.Errorf("writing ConfigMap %s: %w", w, err)
		klog.ErrorS(err, "Cannot publish load balancer addresses; retrying")
		time.AfterFunc(failureRetry, w.Kick)
	case w.hooks.Wrote != nil && (round.Written || len(round.Blocked) > 0 || len(round.Skipped) > 0):
		w.hooks.Wrote(round)
	}
	w.finish(round.Gen, err)
	return round.Size
}

// attempt renders the view onto the latest known version and writes it if it
// differs. A failure fails every change made so far.
func (w *Writer) attempt(ctx context.Context, fresh bool) (Round, error) {
	base, ours, err := w.base(ctx, fresh)
	if err != nil {
		return Round{Gen: w.hooks.View().Gen}, err
	}
	if !ours {
		w.hooks.Observe(Read(base)) // someone else's version: learn their keys first
	}
	view := w.hooks.View()
	r := w.family.Render(base, w.namespace, w.name, view)
	round := Round{Gen: view.Gen, Removed: r.Removed, Blocked: pick(view.Entries, r.Blocked), Skipped: pick(view.Entries, r.Skipped)}
	if len(r.Skipped) > 0 {
		klog.ErrorS(nil, "View holds addresses of another family; not written", "configMap", w.String(), "family", w.family, "addresses", r.Skipped)
	}
	if !r.Changed {
		return round, nil
	}
	published := omit(omit(view.Entries, r.Blocked), r.Skipped)
	round.Drift = w.drift(base, ours, published)
	written, err := w.send(ctx, r.Object, base != nil)
	if err != nil {
		return round, err
	}
	w.remember(written, published)
	round.Written = true
	round.Size, _ = Size(written)
	return round, nil
}

// base is the version to change: our last write unless someone wrote since (ours),
// else the informer's copy, else (after a lost race) a fresh read.
func (w *Writer) base(ctx context.Context, fresh bool) (cm *corev1.ConfigMap, ours bool, err error) {
	w.mu.Lock()
	last := w.last
	w.mu.Unlock()
	switch {
	case !fresh && last != nil:
		return last, true, nil
	case !fresh && w.hooks.Cached != nil:
		if cm, err = w.hooks.Cached(); err != nil {
			return nil, false, fmt.Errorf("reading the informer's copy: %w", err)
		}
		return cm, false, nil
	}
	cm, err = w.get(ctx)
	return cm, false, err
}

// pick returns the entries at addrs (nil for none).
func pick(entries map[netip.Addr]Entry, addrs []netip.Addr) map[netip.Addr]Entry {
	if len(addrs) == 0 {
		return nil
	}
	out := make(map[netip.Addr]Entry, len(addrs))
	for _, a := range addrs {
		out[a] = entries[a]
	}
	return out
}

// omit returns entries without addrs; entries itself when there are none to omit.
func omit(entries map[netip.Addr]Entry, addrs []netip.Addr) map[netip.Addr]Entry {
	if len(addrs) == 0 {
		return entries
	}
	out := maps.Clone(entries)
	for _, a := range addrs {
		delete(out, a)
	}
	return out
}

// isRace reports errors that a fresh read fixes: a concurrent update, a concurrent
// create, or the ConfigMap deleted under us.
func isRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)
}
