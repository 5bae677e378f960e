package main

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// watcher keeps the bench namespace's Services from a watch and the time each last
// changed, so that per-Service times come from events, not from polling.
type watcher struct {
	mu      sync.Mutex
	objects map[string]*corev1.Service
	changed map[string]time.Time
}

func startWatcher(ctx context.Context, c kubernetes.Interface) *watcher {
	w := &watcher{objects: map[string]*corev1.Service{}, changed: map[string]time.Time{}}
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Services().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.set(obj) },
		UpdateFunc: func(_, obj any) { w.set(obj) },
		DeleteFunc: func(obj any) { w.remove(obj) },
	})
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return w
}

func (w *watcher) set(obj any) {
	if svc, ok := obj.(*corev1.Service); ok {
		w.mu.Lock()
		w.objects[svc.Name], w.changed[svc.Name] = svc, time.Now()
		w.mu.Unlock()
	}
}

func (w *watcher) remove(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if svc, ok := obj.(*corev1.Service); ok {
		w.mu.Lock()
		delete(w.objects, svc.Name)
		w.changed[svc.Name] = time.Now()
		w.mu.Unlock()
	}
}

func (w *watcher) get(name string) (*corev1.Service, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	svc, ok := w.objects[name]
	return svc, ok
}

func (w *watcher) changedAt(name string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed[name]
}
