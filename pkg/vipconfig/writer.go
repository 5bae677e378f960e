package vipconfig

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/lru"
)

// Pacing and limits of the writer.
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
	// callTimeout bounds every API call, so that a stalled one fails the round (and
	// every caller waiting on it) instead of hanging them.
	callTimeout = 10 * time.Second
)

// ownVersions is how many of our latest writes are told apart from others' by
// their resourceVersion. The informer's echo of a write arrives long before this
// many more writes; a forgotten one only costs a fresh read.
const ownVersions = 256

// Hooks connect the writer to the decisions it publishes and to what reports them.
type Hooks struct {
	View    func() View                       // what to publish
	Ready   func() bool                       // whether the view may be published yet
	Observe func(Snapshot)                    // called with every version others wrote, before rendering
	Cached  func() (*corev1.ConfigMap, error) // the informer's copy (nil, nil: none)
	// Lease fences writes: it is called right before every Create or Update. An
	// error fails the round with nothing sent; a non-zero deadline bounds the
	// write, so that a process frozen since the check sends nothing. Nil: always
	// allowed, no deadline.
	Lease func() (deadline time.Time, err error)
	// Wrote is called after each write, and after a round that had nothing to
	// write but entries it could not write, before the waiting callers return.
	Wrote func(Round)
}

// Round is what one successful round published, as the Wrote hook hears it.
type Round struct {
	Gen     uint64               // generation of the view rendered
	Written bool                 // false: the ConfigMap already matched the view
	Size    int                  // bytes of the object written, as the API server counts them
	Removed []string             // keys of ours removed because no Service holds them
	Blocked map[netip.Addr]Entry // entries of the view not written: someone else's key holds the address
	Skipped map[netip.Addr]Entry // entries of the view not written: no key in the ConfigMap's family (never for IPv4)
	Drift   Drift                // what others changed in our entries since our last write, now repaired
}

// Writer publishes views to one ConfigMap. It batches every change made since its
// last write into one compare-and-swap update (group commit) and tells each waiting
// caller when its change is durable. It never writes before the view is ready.
type Writer struct {
	client          kubernetes.Interface
	namespace, name string
	family          Family // of the ConfigMap's keys
	hooks           Hooks
	kick            chan struct{}
	ours            *lru.Cache // resourceVersions of our latest writes

	mu        sync.Mutex
	round     chan struct{} // closed and replaced after every attempt
	published uint64        // generation of the last successful write or check
	failedGen uint64        // generation of the last failed attempt
	failure   error
	last      *corev1.ConfigMap    // our last write, until someone else writes
	prev      map[netip.Addr]Entry // the entries our last write published (a view's, not copied)
	prevOwned string               // the ownership annotation our last write left
}

// NewWriter returns a writer for the legacy (IPv4) ConfigMap namespace/name;
// start it with Run.
func NewWriter(client kubernetes.Interface, namespace, name string, hooks Hooks) *Writer {
	return NewFamilyWriter(client, namespace, name, IPv4, hooks)
}

// NewFamilyWriter returns a writer for the ConfigMap namespace/name whose keys are
// of family (Family.Render); start it with Run. Each ConfigMap has a writer of its
// own, with hooks that give it the view of its family.
func NewFamilyWriter(client kubernetes.Interface, namespace, name string, family Family, hooks Hooks) *Writer {
	return &Writer{client: client, namespace: namespace, name: name, family: family, hooks: hooks,
		kick: make(chan struct{}, 1), round: make(chan struct{}), ours: lru.New(ownVersions)}
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
	if cm == nil || !w.isOurs(cm.ResourceVersion) {
		w.mu.Lock()
		w.last = nil
		w.mu.Unlock()
	}
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
