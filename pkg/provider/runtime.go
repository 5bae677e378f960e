package provider

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/fencing"
	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// orphanSweep is how often the ledger is checked for Services that are gone, in
// case a delete slipped between an informer event and a sync.
const orphanSweep = 30 * time.Second

// runtime is one leadership's worth of provider: the ledger, the writer that
// publishes it, and the informers that keep it current.
type runtime struct {
	ctx      context.Context
	cfg      Config
	ledger   *ledger.Ledger
	writer   *vipconfig.Writer
	metrics  *Metrics
	events   *eventSink
	lb       *LoadBalancer
	cms      corelisters.ConfigMapLister
	cmSynced cache.InformerSynced
	ready    chan struct{}
	once     sync.Once
}

func newRuntime(ctx context.Context, cfg Config, pools poolsAtStart, client kubernetes.Interface, m *Metrics, fence *fencing.Fence) *runtime {
	r := &runtime{ctx: ctx, cfg: cfg, metrics: m, ready: make(chan struct{}), events: newEventSink(ctx, client)}
	led, err := ledger.New(ledgerOptions(cfg, pools), r.report)
	if err != nil {
		// The pools were validated at start or at this reload: only a bug gets here.
		klog.Fatalf("Building the address ledger: %v", err)
	}
	r.ledger = led
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.ConfigMap).String()
		}))
	cmInformer := factory.Core().V1().ConfigMaps()
	r.cms, r.cmSynced = cmInformer.Lister(), cmInformer.Informer().HasSynced
	r.writer = vipconfig.NewWriter(client, cfg.Namespace, cfg.ConfigMap, vipconfig.Hooks{
		View: led.View, Ready: led.Ready, Observe: led.ObserveConfigMap, Cached: r.cachedConfigMap, Wrote: r.wrote, Lease: fence.Check,
	})
	_, _ = cmInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.writer.Observed(asConfigMap(obj)) },
		UpdateFunc: func(_, obj any) { r.writer.Observed(asConfigMap(obj)) },
		DeleteFunc: func(any) { r.writer.Observed(nil) },
	})
	factory.Start(ctx.Done())
	go r.writer.Run(ctx)
	r.lb = &LoadBalancer{cfg: cfg, ledger: led, writer: r.writer, ready: r.ready, fence: fence, metrics: m, events: r.events}
	return r
}

// watchServices follows every Service, and rebuilds the ledger once both informers
// have synced.
func (r *runtime) watchServices(informer cache.SharedIndexInformer) {
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observeService(obj) },
		UpdateFunc: func(_, obj any) { r.observeService(obj) },
		DeleteFunc: func(obj any) { r.serviceGone(obj) },
	})
	lister := corelisters.NewServiceLister(informer.GetIndexer())
	go func() {
		if !cache.WaitForCacheSync(r.ctx.Done(), informer.HasSynced, r.cmSynced) {
			return
		}
		r.rebuild(lister)
		go r.sweepOrphans(lister)
	}()
}

// rebuild restores the ledger from the informers' caches.
func (r *runtime) rebuild(lister corelisters.ServiceLister) {
	start := time.Now()
	list, _ := lister.List(labels.Everything())
	services := make([]ledger.Service, 0, len(list))
	for _, svc := range list {
		in, _ := describe(svc, r.cfg.DefaultMethod)
		services = append(services, in)
	}
	cm, err := r.cachedConfigMap()
	if err != nil {
		klog.ErrorS(err, "Reading the ConfigMap from the informer")
	}
	snap := vipconfig.Read(cm)
	for _, w := range snap.Warnings {
		klog.InfoS("ConfigMap annotation not adopted", "configMap", r.writer.String(), "reason", w)
	}
	if err := r.ledger.Rebuild(services, snap); err != nil {
		klog.Fatalf("Rebuilding the address ledger: %v", err)
	}
	s := r.ledger.Stats()
	klog.InfoS("Restored load balancer addresses", "services", len(services), "held", s.Entries, "foreign", s.ForeignKeys, "duration", time.Since(start).Round(time.Millisecond))
	r.metrics.observe(s)
	r.once.Do(func() { close(r.ready) })
	r.writer.Kick()
}

func (r *runtime) observeService(obj any) {
	if svc, ok := obj.(*corev1.Service); ok {
		in, _ := describe(svc, r.cfg.DefaultMethod)
		r.ledger.ObserveService(in)
	}
}

func (r *runtime) serviceGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if svc, ok := obj.(*corev1.Service); ok {
		r.ledger.ServiceGone(svc.UID)
		r.writer.Kick()
	}
}

// sweepOrphans frees addresses of Services that no longer exist.
func (r *runtime) sweepOrphans(lister corelisters.ServiceLister) {
	tick := time.NewTicker(orphanSweep)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		exists := func(key string, uid types.UID) bool {
			ns, name := splitKey(key)
			svc, err := lister.Services(ns).Get(name)
			return !apierrors.IsNotFound(err) && (err != nil || svc.UID == uid)
		}
		orphans := r.ledger.Orphans(exists)
		for _, uid := range orphans {
			r.ledger.ServiceGone(uid)
		}
		if len(orphans) > 0 {
			r.writer.Kick() // otherwise there is nothing to write: the writer resyncs on its own
		}
	}
}

func (r *runtime) cachedConfigMap() (*corev1.ConfigMap, error) {
	cm, err := r.cms.ConfigMaps(r.cfg.Namespace).Get(r.cfg.ConfigMap)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cm, err
}

// report tells people what the ledger noticed: a Warning event on the Service
// concerned, a log line and a metric. It runs under the ledger's lock: no waiting.
func (r *runtime) report(e ledger.Event) {
	klog.InfoS(e.Message, "reason", e.Kind, "service", e.Service, "address", e.Addr)
	r.metrics.noticed(string(e.Kind))
	if e.Service != "" && e.Kind != ledger.Orphan && e.Kind != ledger.Stale {
		ns, name := splitKey(e.Service)
		r.events.warnRef(serviceRef(ns, name, e.UID), string(e.Kind), e.Message)
	}
}

// wrote records a round of the writer, and reports what it repaired, in the terms
// of the view it wrote.
func (r *runtime) wrote(round vipconfig.Round) {
	if round.Written {
		r.metrics.wrote(round.Size)
	}
	r.metrics.observe(r.ledger.Stats())
	for _, key := range round.Removed {
		klog.V(4).InfoS("Removed ConfigMap entry no Service holds", "configMap", r.writer.String(), "key", key)
	}
	for addr, entry := range round.Blocked {
		klog.V(2).InfoS("Entry not written: someone else's key holds its address", "configMap", r.writer.String(), "address", addr, "service", entry.Service)
	}
	drift := round.Drift
	switch {
	case drift.Recreated:
		klog.InfoS("ConfigMap was deleted; re-created it with every entry", "configMap", r.writer.String())
		r.metrics.repaired("configmap_deleted")
	case drift.Annotation:
		klog.InfoS("Ownership annotation was removed or edited; restored it", "configMap", r.writer.String(), "annotation", vipconfig.OwnedAnnotation)
		r.metrics.repaired("annotation")
	}
	for addr, entry := range drift.Entries {
		msg := fmt.Sprintf("ConfigMap %s entry %s was deleted or edited by someone else; restored it to %q", r.writer, addr, entry.Value())
		klog.InfoS(msg, "service", entry.Service)
		r.metrics.repaired("entry")
		ns, name := splitKey(entry.Service)
		r.events.warnRef(serviceRef(ns, name, ""), "ConfigMapEntryRepaired", msg)
	}
}

func asConfigMap(obj any) *corev1.ConfigMap {
	cm, _ := obj.(*corev1.ConfigMap)
	return cm
}

func splitKey(key string) (namespace, name string) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	return ns, name
}
