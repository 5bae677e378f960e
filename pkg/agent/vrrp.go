package agent

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/kubeproxy"
	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/vrrpwatch"
)

// foreignHold is how long a foreign VRRP speaker is remembered after its last advert.
const foreignHold = 10 * time.Second

// watchVRRP listens for VRRP adverts on the interface and reports routers that use
// one of our virtual router IDs without being our peers (or with addresses that are
// not ours): the collision that makes VIPs flap. It never stops the node from serving.
func (a *Agent) watchVRRP(ctx context.Context) {
	first := a.cfg.RouterIDBase
	last := first + a.cfg.Instances + a.cfg.LocalInstances - 1
	conn, err := vrrpwatch.Listen(a.cfg.Interface)
	if err != nil {
		klog.ErrorS(err, "Cannot listen for VRRP adverts: virtual router ID collisions will not be detected", "interface", a.cfg.Interface)
		return
	}
	a.metrics.VRRPWatchUp.Set(1)
	defer a.metrics.VRRPWatchUp.Set(0)
	tracker := vrrpwatch.NewTracker(first, last, foreignHold)
	go a.expireSpeakers(ctx, tracker)
	conn.Run(ctx, func(adv vrrpwatch.Advert) {
		isPeer, isOurs := a.vrrpJudges()
		sp := tracker.Observe(adv, isPeer, isOurs, time.Now())
		if isForeign(tracker, adv) {
			a.metrics.ForeignAdverts.Inc()
		}
		if sp == nil {
			return
		}
		a.metrics.ForeignSpeakers.Set(float64(len(tracker.Active())))
		klog.InfoS("Foreign VRRP speaker on one of our virtual router IDs: VIPs on it may flap; give this cluster a free range (--virtual-router-id-base) or move the other router",
			"vrid", sp.VRID, "source", sp.Source, "addresses", sp.Addrs, "reason", sp.Reason, "ourRange", rangeText(first, last))
		a.nodeEvent(corev1.EventTypeWarning, reasonCollision,
			"VRRP adverts for virtual router ID %d from %s (%s): another VRRP user on this segment shares this cluster's range %s; move it, or set KEEPALIVED_VIRTUAL_ROUTER_ID_BASE to a free range",
			sp.VRID, sp.Source, sp.Reason, rangeText(first, last))
	})
}

func isForeign(t *vrrpwatch.Tracker, adv vrrpwatch.Advert) bool {
	for _, s := range t.Active() {
		if s.VRID == adv.VRID && s.Source == adv.Source {
			return true
		}
	}
	return false
}

func (a *Agent) expireSpeakers(ctx context.Context, t *vrrpwatch.Tracker) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, sp := range t.Expire(now) {
				klog.InfoS("Foreign VRRP speaker no longer heard", "vrid", sp.VRID, "source", sp.Source)
			}
			a.metrics.ForeignSpeakers.Set(float64(len(t.Active())))
		}
	}
}

// vrrpJudges says who is a peer (nil when the peers are unknown) and which addresses
// are ours: every VIP this agent has put in keepalived.conf.
func (a *Agent) vrrpJudges() (isPeer, isOurs func(netip.Addr) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	peers, known := a.peerAddrs, a.known
	if len(peers) > 0 {
		isPeer = func(addr netip.Addr) bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return peers[addr]
		}
	}
	isOurs = func(addr netip.Addr) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return known[addr]
	}
	return isPeer, isOurs
}

func rangeText(first, last int) string {
	if last == first {
		return strconv.Itoa(first)
	}
	return strconv.Itoa(first) + "-" + strconv.Itoa(last)
}

// nodeEvent records an event on this node's Node object.
func (a *Agent) nodeEvent(eventType, reason, format string, args ...any) {
	if a.events == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: "", APIVersion: "v1"}
	if n := a.watch.node(a.cfg.NodeName); n != nil {
		ref.UID = n.UID
	}
	a.events.Eventf(ref, eventType, reason, format, args...)
}

// checkKubeProxy warns, at start and every 10s, when kube-proxy's IPVS mode runs
// without strictARP, so that every node answers ARP for every VIP.
func (a *Agent) checkKubeProxy(ctx context.Context) {
	last := "unset"
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		problem, err := kubeproxy.StrictARPProblem(kubeproxy.SysctlDir, kubeproxy.LinkExists)
		switch {
		case err != nil && last != "error":
			klog.ErrorS(err, "Checking kube-proxy's ARP settings")
			last = "error"
		case err == nil && problem != last:
			if problem != "" {
				klog.InfoS("kube-proxy in IPVS mode without strictARP: every node answers ARP for every LoadBalancer address", "problem", problem)
			} else if last != "unset" {
				klog.InfoS("kube-proxy's ARP settings are fine now")
			}
			a.metrics.IPVSNoStrictARP.Set(boolGauge(problem != ""))
			last = problem
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
