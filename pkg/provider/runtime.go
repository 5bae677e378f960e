package provider

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// runtime is one leadership's worth of provider: per address family a ledger, the
// writer that publishes it to that family's ConfigMap, and the informer that
// watches the ConfigMap; and the Services informer that keeps them all current.
type runtime struct {
	ctx     context.Context
	cfg     Config
	metrics *Metrics
	events  *eventSink
	lb      *LoadBalancer
	fams    [len(families)]*familyRuntime
	// services is the Services informer's cache, once SetInformers gave it.
	services atomic.Pointer[corelisters.ServiceLister]
}

// familyRuntime is one family's share of the runtime. The families share nothing
// but the Services informer: an IPv4 Service never waits on the IPv6 side.
type familyRuntime struct {
	*family
	namespace, name string // of the ConfigMap
	cms             corelisters.ConfigMapLister
	cmSynced        cache.InformerSynced
	rebuilt         chan struct{} // the family's ready
	once            sync.Once
}

func newRuntime(ctx context.Context, cfg Config, pools poolsAtStart, client kubernetes.Interface, m *Metrics, fence *fencing.Fence) *runtime {
	r := &runtime{ctx: ctx, cfg: cfg, metrics: m, events: newEventSink(ctx, client)}
	r.lb = &LoadBalancer{cfg: cfg, fence: fence, metrics: m, events: r.events}
	for _, fam := range families {
		r.fams[fam] = r.newFamily(fam, pools, client, fence)
		r.lb.fams[fam] = r.fams[fam].family
	}
	return r
}

// newFamily builds and starts one family's ledger, ConfigMap informer and writer.
func (r *runtime) newFamily(fam vipconfig.Family, pools poolsAtStart, client kubernetes.Interface, fence *fencing.Fence) *familyRuntime {
	opts := ledgerOptions(r.cfg, pools, fam)
	opts.Current = r.current
	led, err := ledger.New(opts, r.report)
	if err != nil {
		// The pools were validated at start or at this reload: only a bug gets here.
		klog.Fatalf("Building the %s address ledger: %v", fam, err)
	}
	name := r.cfg.configMapOf(fam)
	fr := &familyRuntime{namespace: r.cfg.Namespace, name: name, rebuilt: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(r.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	cmInformer := factory.Core().V1().ConfigMaps()
	fr.cms, fr.cmSynced = cmInformer.Lister(), cmInformer.Informer().HasSynced
	writer := vipconfig.NewFamilyWriter(client, r.cfg.Namespace, name, fam, vipconfig.Hooks{
		View: led.View, Ready: led.Ready, Observe: led.ObserveConfigMap, Cached: fr.cachedConfigMap,
		Wrote: func(round vipconfig.Round) { r.wrote(fr, round) }, Lease: fence.Check,
	})
	fr.family = &family{fam: fam, ledger: led, writer: writer, ready: fr.rebuilt}
	_, _ = cmInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { writer.Observed(asConfigMap(obj)) },
		UpdateFunc: func(_, obj any) { writer.Observed(asConfigMap(obj)) },
		DeleteFunc: func(any) { writer.Observed(nil) },
	})
	factory.Start(r.ctx.Done())
	go writer.Run(r.ctx)
	return fr
}

// watchServices follows every Service, and rebuilds each family's ledger once the
// Services informer and that family's ConfigMap informer have synced.
func (r *runtime) watchServices(informer cache.SharedIndexInformer) {
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observeService(obj) },
		UpdateFunc: func(_, obj any) { r.observeService(obj) },
		DeleteFunc: func(obj any) { r.serviceGone(obj) },
	})
	lister := corelisters.NewServiceLister(informer.GetIndexer())
	r.services.Store(&lister)
	for _, fr := range r.fams {
		go func() {
			if !cache.WaitForCacheSync(r.ctx.Done(), informer.HasSynced, fr.cmSynced) {
				return
			}
			r.rebuild(fr, lister)
			go r.sweepOrphans(fr, lister)
		}()
	}
}

// rebuild restores one family's ledger from the informers' caches.
func (r *runtime) rebuild(fr *familyRuntime, lister corelisters.ServiceLister) {
	start := time.Now()
	list, _ := lister.List(labels.Everything())
	services := make([]ledger.Service, 0, len(list))
	for _, svc := range list {
		in, _ := describe(svc, r.cfg)
		services = append(services, in[fr.fam])
	}
	cm, err := fr.cachedConfigMap()
	if err != nil {
		klog.ErrorS(err, "Reading the ConfigMap from the informer", "configMap", fr.writer.String())
	}
	snap := vipconfig.Read(cm)
	for _, w := range snap.Warnings {
		klog.InfoS("ConfigMap annotation not adopted", "configMap", fr.writer.String(), "reason", w)
	}
	if err := fr.ledger.Rebuild(services, snap); err != nil {
		klog.Fatalf("Rebuilding the %s address ledger: %v", fr.fam, err)
	}
	s := fr.ledger.Stats()
	klog.InfoS("Restored load balancer addresses", "family", fr.fam, "configMap", fr.writer.String(), "services", len(services),
		"held", s.Entries, "foreign", s.ForeignKeys, "duration", time.Since(start).Round(time.Millisecond))
	r.metrics.observe(s)
	fr.once.Do(func() { close(fr.rebuilt) })
	fr.writer.Kick()
}

// current reports whether the Service still wants a load balancer from us, as
// the Services informer's cache says now (see ledger.Options.Current). The cache
// is updated before any controller hears of a change, so a Service another
// controller has begun to clean up is never current here.
func (r *runtime) current(s ledger.Service) bool {
	lister := r.services.Load()
	if lister == nil {
		return true
	}
	ns, name := splitKey(s.Key)
	svc, err := (*lister).Services(ns).Get(name)
	if err != nil {
		return !apierrors.IsNotFound(err)
	}
	return svc.UID == s.UID && svc.DeletionTimestamp == nil && r.cfg.Serves(svc)
}

func (r *runtime) observeService(obj any) {
	if svc, ok := obj.(*corev1.Service); ok {
		in, _ := describe(svc, r.cfg)
		for _, fr := range r.fams {
			fr.ledger.ObserveService(in[fr.fam])
		}
	}
}

func (r *runtime) serviceGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if svc, ok := obj.(*corev1.Service); ok {
		for _, fr := range r.fams {
			fr.ledger.ServiceGone(svc.UID)
			fr.writer.Kick()
		}
	}
}

// sweepOrphans frees addresses of Services that no longer exist.
func (r *runtime) sweepOrphans(fr *familyRuntime, lister corelisters.ServiceLister) {
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
		orphans := fr.ledger.Orphans(exists)
		for _, uid := range orphans {
			fr.ledger.ServiceGone(uid)
		}
		if len(orphans) > 0 {
			fr.writer.Kick() // otherwise there is nothing to write: the writer resyncs on its own
		}
	}
}

func (fr *familyRuntime) cachedConfigMap() (*corev1.ConfigMap, error) {
	cm, err := fr.cms.ConfigMaps(fr.namespace).Get(fr.name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cm, err
}

// report tells people what a ledger noticed: a Warning event on the Service
// concerned, a log line and a metric. It runs under the ledger's lock: no waiting.
func (r *runtime) report(e ledger.Event) {
	klog.InfoS(e.Message, "reason", e.Kind, "service", e.Service, "address", e.Addr)
	r.metrics.noticed(string(e.Kind))
	if e.Service != "" && e.Kind != ledger.Orphan && e.Kind != ledger.Stale {
		ns, name := splitKey(e.Service)
		r.events.warnRef(serviceRef(ns, name, e.UID), string(e.Kind), e.Message)
	}
}

// wrote records a round of a family's writer, and reports what it repaired, in
// the terms of the view it wrote.
func (r *runtime) wrote(fr *familyRuntime, round vipconfig.Round) {
	if round.Written {
		r.metrics.wrote(fr.fam, round.Size)
	}
	r.metrics.observe(fr.ledger.Stats())
	cmName := fr.writer.String()
	for _, key := range round.Removed {
		klog.V(4).InfoS("Removed ConfigMap entry no Service holds", "configMap", cmName, "key", key)
	}
	for addr, entry := range round.Blocked {
		klog.V(2).InfoS("Entry not written: someone else's key holds its address", "configMap", cmName, "address", addr, "service", entry.Service)
	}
	drift := round.Drift
	switch {
	case drift.Recreated:
		klog.InfoS("ConfigMap was deleted; re-created it with every entry", "configMap", cmName)
		r.metrics.repaired("configmap_deleted")
	case drift.Annotation:
		klog.InfoS("Ownership annotation was removed or edited; restored it", "configMap", cmName, "annotation", vipconfig.OwnedAnnotation)
		r.metrics.repaired("annotation")
	}
	for addr, entry := range drift.Entries {
		msg := fmt.Sprintf("ConfigMap %s entry %s was deleted or edited by someone else; restored it to %q", cmName, addr, entry.Value())
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
