package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// watcher caches the VIP ConfigMap and, when peers come from Nodes, the selected Nodes.
// It lists and watches the one ConfigMap by name, which is all its Role allows.
type watcher struct {
	cfg   Config
	cms   corelisters.ConfigMapLister
	nodes corelisters.NodeLister // nil without a peer selector
}

// startWatcher starts the informers, calls onChange on every change, and returns once
// their caches are filled.
func startWatcher(ctx context.Context, client kubernetes.Interface, cfg Config, onChange func()) (*watcher, error) {
	w := &watcher{cfg: cfg}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(any, any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	}
	byName := fields.OneTermEqualSelector(metav1.ObjectNameField, cfg.ConfigMap).String()
	cmFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = byName }))
	cmInformer := cmFactory.Core().V1().ConfigMaps()
	if _, err := cmInformer.Informer().AddEventHandler(handler); err != nil {
		return nil, err
	}
	w.cms = cmInformer.Lister()
	factories := []informers.SharedInformerFactory{cmFactory}
	if cfg.PeerSelector != nil {
		nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = cfg.PeerSelector.String() }))
		nodeInformer := nodeFactory.Core().V1().Nodes()
		if _, err := nodeInformer.Informer().AddEventHandler(handler); err != nil {
			return nil, err
		}
		w.nodes = nodeInformer.Lister()
		factories = append(factories, nodeFactory)
	}
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	return w, waitForSync(ctx, factories)
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
			return fmt.Errorf("waiting for the ConfigMap and Node caches: %w", ctx.Err())
		}
	}
}

// configMap is the cached VIP ConfigMap, nil when missing.
func (w *watcher) configMap() *corev1.ConfigMap {
	cm, err := w.cms.ConfigMaps(w.cfg.Namespace).Get(w.cfg.ConfigMap)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			klog.ErrorS(err, "Reading the cached ConfigMap")
		}
		return nil
	}
	return cm
}

// nodePeers are the selected Nodes with their first IPv4 InternalIP, sorted by name.
// A Node without one still takes part in the rotation, without a unicast address.
func (w *watcher) nodePeers() []Peer {
	nodes, err := w.nodes.List(w.cfg.PeerSelector)
	if err != nil {
		klog.ErrorS(err, "Listing the cached Nodes")
		return nil
	}
	peers := make([]Peer, 0, len(nodes))
	for _, n := range nodes {
		peers = append(peers, Peer{Name: n.Name, Addr: internalIPv4(n)})
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return peers
}

func internalIPv4(n *corev1.Node) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if addr, err := netip.ParseAddr(a.Address); err == nil && addr.Is4() {
			return addr
		}
	}
	return netip.Addr{}
}
