package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/trafficpolicy"
)

// watcher caches what the agent reads: the VIP ConfigMap (by name, all its Role
// allows), the Nodes (the selected peers, or with static peers only this node),
// Services and EndpointSlices (for externalTrafficPolicy Local), the last two trimmed
// to the fields the agent uses, as every node holds them.
type watcher struct {
	cfg      Config
	cms      *twoConfigMaps
	nodes    corelisters.NodeLister
	services corelisters.ServiceLister
	slices   cache.Indexer
}

// byService indexes EndpointSlices by "<namespace>/<service name>".
const byService = "service"

// startWatcher starts the informers, calls onChange on every change, and returns once
// their caches are filled.
func startWatcher(ctx context.Context, client kubernetes.Interface, cfg Config, onChange func()) (*watcher, error) {
	w := &watcher{cfg: cfg}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(any, any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	}
	cmFactory, cm6Factory := configMapFactory(client, cfg, cfg.ConfigMap), configMapFactory(client, cfg, cfg.ConfigMapIPv6)
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(w.nodeSelection))
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(trim))

	cmInformer, cm6Informer := cmFactory.Core().V1().ConfigMaps(), cm6Factory.Core().V1().ConfigMaps()
	nodeInformer := nodeFactory.Core().V1().Nodes()
	svcInformer := factory.Core().V1().Services()
	sliceInformer := factory.Discovery().V1().EndpointSlices()
	if err := sliceInformer.Informer().AddIndexers(cache.Indexers{byService: sliceService}); err != nil {
		return nil, err
	}
	for _, inf := range []cache.SharedIndexInformer{cmInformer.Informer(), cm6Informer.Informer(), nodeInformer.Informer(), svcInformer.Informer(), sliceInformer.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
	}
	w.cms = &twoConfigMaps{cmInformer.Lister(), cm6Informer.Lister(), cfg.ConfigMapIPv6}
	w.nodes, w.services, w.slices = nodeInformer.Lister(), svcInformer.Lister(), sliceInformer.Informer().GetIndexer()
	factories := []informers.SharedInformerFactory{cmFactory, cm6Factory, nodeFactory, factory}
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	return w, waitForSync(ctx, factories)
}

// configMapFactory lists and watches one ConfigMap by name, which is all the Role allows.
func configMapFactory(client kubernetes.Interface, cfg Config, name string) informers.SharedInformerFactory {
	byName := fields.OneTermEqualSelector(metav1.ObjectNameField, name).String()
	return informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = byName }))
}

// twoConfigMaps reads each ConfigMap from the cache that watches it.
type twoConfigMaps struct {
	v4, v6 corelisters.ConfigMapLister
	name6  string
}

func (t *twoConfigMaps) lister(name string) corelisters.ConfigMapLister {
	if name == t.name6 {
		return t.v6
	}
	return t.v4
}

// nodeSelection lists the selected peers, or only this node when the peers are static:
// its labels still say whether it may announce.
func (w *watcher) nodeSelection(o *metav1.ListOptions) {
	if w.cfg.PeerSelector != nil {
		o.LabelSelector = w.cfg.PeerSelector.String()
		return
	}
	o.FieldSelector = fields.OneTermEqualSelector(metav1.ObjectNameField, w.cfg.NodeName).String()
}

// trim keeps of Services and EndpointSlices only what the agent reads.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion,
				Annotations: keep(o.Annotations, trafficpolicy.AnnotationIgnore)},
			Spec: corev1.ServiceSpec{Type: o.Spec.Type, ExternalTrafficPolicy: o.Spec.ExternalTrafficPolicy},
		}, nil
	case *discoveryv1.EndpointSlice:
		out := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace,
			ResourceVersion: o.ResourceVersion, Labels: keep(o.Labels, discoveryv1.LabelServiceName)}}
		for _, e := range o.Endpoints {
			out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{NodeName: e.NodeName, Conditions: e.Conditions})
		}
		return out, nil
	}
	return obj, nil
}

func keep(m map[string]string, key string) map[string]string {
	if v, ok := m[key]; ok {
		return map[string]string{key: v}
	}
	return nil
}

func sliceService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
}

// waitForSync waits for the caches, logging every 30s, so that a missing permission is
// visible rather than a silent hang.
func waitForSync(ctx context.Context, factories []informers.SharedInformerFactory) error {
	for {
		syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		synced := true
		for _, f := range factories {
			for typ, ok := range f.WaitForCacheSync(syncCtx.Done()) {
				if !ok {
					synced = false
					klog.InfoS("Still waiting to list and watch", "type", typ.String())
				}
			}
		}
		cancel()
		if synced {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for the ConfigMap, Node, Service and EndpointSlice caches: %w", ctx.Err())
		}
	}
}

// configMap is the cached VIP ConfigMap of that name (IPv4 or IPv6), nil when missing.
func (w *watcher) configMap(name string) *corev1.ConfigMap {
	cm, err := w.cms.lister(name).ConfigMaps(w.cfg.Namespace).Get(name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			klog.ErrorS(err, "Reading the cached ConfigMap")
		}
		return nil
	}
	return cm
}

// node is a cached Node, nil when unknown (or nothing is watched, in unit tests).
func (w *watcher) node(name string) *corev1.Node {
	if w == nil {
		return nil
	}
	n, err := w.nodes.Get(name)
	if err != nil {
		return nil
	}
	return n
}

// service is the cached (trimmed) Service "<namespace>/<name>", nil when unknown.
func (w *watcher) service(key string) *corev1.Service {
	if w == nil {
		return nil
	}
	ns, name, _ := strings.Cut(key, "/")
	s, err := w.services.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	return s
}

// endpointNodes are the nodes with a ready or serving endpoint of the Service
// "<namespace>/<name>", sorted. A nil ready condition means ready (the API says to
// read unknown as ready); serving covers terminating endpoints, which kube-proxy
// still forwards Local traffic to when a node has nothing else.
func (w *watcher) endpointNodes(key string) []string {
	objs, err := w.slices.ByIndex(byService, key)
	if err != nil {
		klog.ErrorS(err, "Reading the cached EndpointSlices", "service", key)
		return nil
	}
	var nodes []string
	for _, obj := range objs {
		for _, e := range obj.(*discoveryv1.EndpointSlice).Endpoints {
			c := e.Conditions
			if e.NodeName != nil && *e.NodeName != "" && (c.Ready == nil || *c.Ready || (c.Serving != nil && *c.Serving)) {
				nodes = append(nodes, *e.NodeName)
			}
		}
	}
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

// nodePeers are the selected Nodes with their first InternalIP of each family, sorted
// by name. A Node without one still takes part in the rotation, without a unicast
// address of that family.
func (w *watcher) nodePeers() []Peer {
	nodes, err := w.nodes.List(labels.Everything())
	if err != nil {
		klog.ErrorS(err, "Listing the cached Nodes")
		return nil
	}
	peers := make([]Peer, 0, len(nodes))
	for _, n := range nodes {
		peers = append(peers, Peer{Name: n.Name, Addr: internalIP(n, netip.Addr.Is4), Addr6: internalIP(n, isIPv6)})
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return peers
}

func internalIP(n *corev1.Node, family func(netip.Addr) bool) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if addr, err := netip.ParseAddr(a.Address); err == nil && family(addr) {
			return addr
		}
	}
	return netip.Addr{}
}

func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
