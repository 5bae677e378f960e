package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// statusWatch follows every change of the test's Services in order (a list, then a watch
// from its resourceVersion, resumed where it left off should it close) and records each
// moment at which two live Services (not being deleted) report the same address: a
// duplicate that lasted a single revision is still caught.
type statusWatch struct {
	mu         sync.Mutex
	live       map[string]*corev1.Service // by name
	duplicates []string
	events     int
	err        error
	stop       context.CancelFunc
	done       chan struct{}
}

func (e *env) watchStatuses() *statusWatch {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	api := e.c.CoreV1().Services(e.ns)
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		e.t.Fatalf("listing Services to watch their status: %v", err)
	}
	w := &statusWatch{live: map[string]*corev1.Service{}, stop: cancel, done: make(chan struct{})}
	for i := range list.Items {
		w.apply(watch.Added, &list.Items[i])
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.Watch(ctx, o)
		},
	})
	if err != nil {
		cancel()
		e.t.Fatalf("watching Services: %v", err)
	}
	go func() {
		defer close(w.done)
		defer rw.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-rw.ResultChan():
				if !ok {
					return
				}
				if ev.Type == watch.Error {
					w.mu.Lock()
					w.err = fmt.Errorf("watching Services: %v", ev.Object)
					w.mu.Unlock()
					continue
				}
				if s, ok := ev.Object.(*corev1.Service); ok && ev.Type != watch.Bookmark {
					w.apply(ev.Type, s)
				}
			}
		}
	}()
	e.t.Cleanup(w.close)
	return w
}

func (w *statusWatch) apply(t watch.EventType, s *corev1.Service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events++
	if t == watch.Deleted {
		delete(w.live, s.Name)
		return
	}
	w.live[s.Name] = s
	holders := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(w.live)) {
		svc := w.live[name]
		if ip := controlplane.IngressIP(svc); ip != "" && svc.DeletionTimestamp == nil {
			holders[ip] = append(holders[ip], fmt.Sprintf("%s (uid %s)", name, svc.UID))
		}
	}
	for ip, names := range holders {
		if len(names) > 1 {
			w.duplicates = append(w.duplicates, fmt.Sprintf("at resourceVersion %s: %s all report %s", s.ResourceVersion, strings.Join(names, ", "), ip))
		}
	}
}

// close stops the watch; it is safe to call more than once.
func (w *statusWatch) close() {
	w.stop()
	<-w.done
}

// check reports every duplicate seen so far and how many changes were seen.
func (w *statusWatch) check(step string) (events int, problems []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	problems = slices.Clone(w.duplicates)
	if w.err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", step, w.err))
	}
	return w.events, problems
}

// waitStaysConsistent is waitConsistent, then checks that it stays so for d: no late
// event (a delete delivered after its successor was addressed, say) undoes it.
func (e *env) waitStaysConsistent(step string, d time.Duration) {
	e.t.Helper()
	e.waitConsistent(assignTimeout)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if diff, ok := e.consistent(context.Background()); !ok {
			e.t.Fatalf("step %q: the ConfigMap and the Services' status agreed, then disagreed again within %s: %s", step, d, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consistent reports whether the ConfigMap carries exactly the test's Services'
// addresses, each as the provider's, and what differs if not.
func (e *env) consistent(ctx context.Context) (string, bool) {
	want := map[string]string{}
	for name, ip := range e.statusAddresses(ctx) {
		want[ip] = e.key(name)
	}
	cm, err := e.c.CoreV1().ConfigMaps(configMapNamespace).Get(ctx, e.cm, metav1.GetOptions{})
	if err != nil {
		return err.Error(), false
	}
	got := map[string]string{}
	for k, v := range cm.Data {
		if strings.HasPrefix(v, e.ns+"/") {
			got[k] = v
		}
	}
	owned := ownedKeysSorted(cm)
	keys := slices.Sorted(maps.Keys(want))
	diff := fmt.Sprintf("ConfigMap entries %v, owned %v; statuses say %v", got, owned, want)
	return diff, maps.Equal(got, want) && slices.Equal(owned, keys)
}

// pollFor polls cond every 100 ms until it holds or timeout passes; it reports whether it held.
func pollFor(timeout time.Duration, cond func(ctx context.Context) bool) bool {
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
	return err == nil
}
