package vipconfig

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// Pacing of the writer.
var (
	// raceBackoff retries a write that lost a race (conflict, create/delete) on a
	// fresh read for about two seconds.
	raceBackoff = wait.Backoff{Steps: 12, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.2}
	// failureRetry is how soon a failed write is tried again.
	failureRetry = time.Second
	// resync compares the ConfigMap with the view even when nothing signals a change.
	resync = 30 * time.Second
	// minGap spaces writes so that a burst of changes goes out in few writes; a lone
	// change is written at once (the gap only delays the next write).
	minGap = 100 * time.Millisecond
	// writeRate bounds the bytes written per second, so that a large ConfigMap is
	// written less often (each write carrying more changes) and etcd grows slowly.
	writeRate = 2 << 20
	maxGap    = 250 * time.Millisecond
)

// Drift is what someone else changed in the entries of ours since our last write.
type Drift struct {
	Recreated  bool         // the ConfigMap was deleted
	Entries    []netip.Addr // entries of ours deleted or edited
	Annotation bool         // the ownership annotation was removed or edited
}

// Any reports whether anything drifted.
func (d Drift) Any() bool { return d.Recreated || len(d.Entries) > 0 || d.Annotation }

// Hooks connect the writer to the decisions it publishes and to what reports them.
type Hooks struct {
	View    func() View                         // what to publish
	Ready   func() bool                         // whether the view may be published yet
	Observe func(Snapshot)                      // called with every version others wrote, before rendering
	Cached  func() (*corev1.ConfigMap, error)   // the informer's copy (nil, nil: none)
	Wrote   func(r Rendered, d Drift, size int) // called after each write
}

// Writer publishes views to one ConfigMap. It batches every change made since its
// last write into one compare-and-swap update (group commit) and tells each waiting
// caller when its change is durable. It never writes before the view is ready.
type Writer struct {
	client          kubernetes.Interface
	namespace, name string
	hooks           Hooks
	kick            chan struct{}

	mu        sync.Mutex
	round     chan struct{} // closed and replaced after every attempt
	published uint64        // generation of the last successful write or check
	failedGen uint64        // generation of the last failed attempt
	failure   error
	last      *corev1.ConfigMap    // our last write, until someone else writes
	ours      map[string]bool      // resourceVersions of our writes
	prev      map[netip.Addr]Entry // the entries our last write left (a view's, not copied)
	prevOwned string               // the ownership annotation our last write left
}

// NewWriter returns a writer for namespace/name; start it with Run.
func NewWriter(client kubernetes.Interface, namespace, name string, hooks Hooks) *Writer {
	return &Writer{client: client, namespace: namespace, name: name, hooks: hooks,
		kick: make(chan struct{}, 1), round: make(chan struct{}), ours: map[string]bool{}}
}

// String names the ConfigMap for messages.
func (w *Writer) String() string { return w.namespace + "/" + w.name }

// Kick asks for a write soon; kicks while a write is under way make one more write.
func (w *Writer) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Observed is told of every version of the ConfigMap the informer sees (nil:
// deleted). A version we did not write makes the next write start from it.
func (w *Writer) Observed(cm *corev1.ConfigMap) {
	w.mu.Lock()
	if cm == nil || !w.ours[cm.ResourceVersion] {
		w.last = nil
	}
	w.mu.Unlock()
	w.Kick()
}

// Wait blocks until a write (or a check that found nothing to write) of generation
// gen or later has succeeded, or returns the error of the attempt that failed it.
func (w *Writer) Wait(ctx context.Context, gen uint64) error {
	w.Kick()
	for {
		w.mu.Lock()
		published, failedGen, failure, round := w.published, w.failedGen, w.failure, w.round
		w.mu.Unlock()
		switch {
		case published >= gen:
			return nil
		case failedGen >= gen:
			return failure
		}
		select {
		case <-round:
		case <-ctx.Done():
			return fmt.Errorf("waiting for ConfigMap %s to be written: %w", w, ctx.Err())
		}
	}
}

// Run writes until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	tick := time.NewTicker(resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-tick.C:
		}
		size := w.sync(ctx)
		// Pace large ConfigMaps: changes made meanwhile go out together.
		gap := min(max(minGap, time.Duration(size)*time.Second/time.Duration(writeRate)), maxGap)
		if size == 0 {
			gap = 0 // nothing was written: nothing to space out
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
	}
}

// sync brings the ConfigMap in line with the view and returns the size written.
func (w *Writer) sync(ctx context.Context) int {
	if !w.hooks.Ready() {
		return 0
	}
	var gen uint64
	size := 0
	fresh := false
	err := retry.OnError(raceBackoff, isRace, func() error {
		var err error
		gen, size, err = w.attempt(ctx, fresh)
		fresh = true
		return err
	})
	if err != nil {
		err = fmt.Errorf("writing ConfigMap %s: %w", w, err)
		klog.ErrorS(err, "Cannot publish load balancer addresses; retrying")
		time.AfterFunc(failureRetry, w.Kick)
	}
	w.finish(gen, err)
	return size
}

// attempt renders the view onto the latest known version and writes it if it differs.
func (w *Writer) attempt(ctx context.Context, fresh bool) (gen uint64, size int, err error) {
	base, ours, err := w.base(ctx, fresh)
	if err != nil {
		return w.hooks.View().Gen, 0, err // fails every change made so far
	}
	if !ours {
		w.hooks.Observe(Read(base)) // someone else's version: learn their keys first
	}
	view := w.hooks.View()
	r := Render(base, w.namespace, w.name, view)
	if !r.Changed {
		return view.Gen, 0, nil
	}
	drift := w.drift(base, ours)
	written, err := w.write(ctx, r.Object, base != nil)
	if err != nil {
		return view.Gen, 0, err
	}
	w.remember(written, view, r.Blocked)
	size, _ = Size(written)
	if w.hooks.Wrote != nil {
		w.hooks.Wrote(r, drift, size)
	}
	return view.Gen, size, nil
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
		cm, err = w.hooks.Cached()
		return cm, false, err
	}
	cm, err = w.client.CoreV1().ConfigMaps(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	return cm, false, err
}

// drift compares someone else's version with what our last write left, for the
// entries we still publish.
func (w *Writer) drift(base *corev1.ConfigMap, ours bool) Drift {
	w.mu.Lock()
	defer w.mu.Unlock()
	var d Drift
	if ours || len(w.prev) == 0 || (base != nil && w.ours[base.ResourceVersion]) {
		return d
	}
	if base == nil {
		return Drift{Recreated: true}
	}
	for addr, e := range w.prev {
		if base.Data[addr.String()] != e.Value() {
			d.Entries = append(d.Entries, addr)
		}
	}
	d.Annotation = base.Annotations[OwnedAnnotation] != w.prevOwned
	return d
}

// remember records our write so that its echo from the informer is not mistaken
// for someone else's edit, and what it published, to tell later edits by others.
func (w *Writer) remember(cm *corev1.ConfigMap, view View, blocked []netip.Addr) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ours) > 256 {
		clear(w.ours)
	}
	w.ours[cm.ResourceVersion] = true
	w.last = cm
	w.prev = view.Entries // the ledger hands out a fresh map with each view
	for _, addr := range blocked {
		if _, ok := w.prev[addr]; ok {
			w.prev = maps.Clone(view.Entries)
			for _, a := range blocked {
				delete(w.prev, a)
			}
			break
		}
	}
	w.prevOwned = cm.Annotations[OwnedAnnotation]
}

// finish records the outcome of a round and wakes the waiters.
func (w *Writer) finish(gen uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.failedGen, w.failure = max(w.failedGen, gen), err
	} else {
		w.published = max(w.published, gen)
	}
	close(w.round)
	w.round = make(chan struct{})
}

// write updates the version read before (compare-and-swap on its resourceVersion)
// or creates the ConfigMap when the read found none.
func (w *Writer) write(ctx context.Context, cm *corev1.ConfigMap, exists bool) (*corev1.ConfigMap, error) {
	api := w.client.CoreV1().ConfigMaps(w.namespace)
	if !exists {
		return api.Create(ctx, cm, metav1.CreateOptions{})
	}
	return api.Update(ctx, cm, metav1.UpdateOptions{})
}

// isRace reports errors that a fresh read fixes: a concurrent update, a concurrent
// create, or the ConfigMap deleted under us.
func isRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)
}
