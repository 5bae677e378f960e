package agent

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/keepalived"
	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/placement"
	"github.com/munnerz/keepalived-cloud-provider/pkg/trafficpolicy"
)

// Annotations and labels the agent reads.
const (
	// excludeLabel marks a node that must not carry LoadBalancer traffic; the service
	// controller and MetalLB honour it too.
	excludeLabel = corev1.LabelNodeExcludeBalancers
)

// Event reasons.
const (
	reasonAnnounced    = "VIPAnnounced"
	reasonWithdrawn    = "VIPWithdrawn"
	reasonNotAnnounced = "VIPNotAnnounced"
	reasonCollision    = "VRIDCollision"
)

func isExcluded(n *corev1.Node) bool {
	if n == nil {
		return false
	}
	_, ok := n.Labels[excludeLabel]
	return ok
}

// rotation are the peers' names, sorted (peers are kept sorted).
func rotation(peers []Peer) []string {
	names := make([]string, 0, len(peers))
	for _, p := range peers {
		names = append(names, p.Name)
	}
	return names
}

// excludedPeers are the peers whose Node is labelled not to announce, sorted (with static
// peers only this node's label is known).
func (a *Agent) excludedPeers(peers []Peer) []string {
	var names []string
	for _, p := range peers {
		if isExcluded(a.watch.node(p.Name)) {
			names = append(names, p.Name)
		}
	}
	return names
}

// isReporter says whether this node reports VIPs that no node announces: the first
// peer that is not excluded, so that the Service gets one event, not one per node.
func (a *Agent) isReporter(peers []Peer) bool {
	for _, p := range peers {
		if !isExcluded(a.watch.node(p.Name)) {
			return p.Name == a.cfg.NodeName
		}
	}
	return true
}

// placed adds to each VIP its Service's traffic policy and eligible nodes.
func (a *Agent) placed(vips []keepalived.VIP) []placement.VIP {
	out := make([]placement.VIP, 0, len(vips))
	for _, v := range vips {
		p := placement.VIP{Addr: v.Addr, Service: v.Service}
		if svc := a.watch.service(v.Service); v.Service != "" && svc != nil && trafficpolicy.Local(svc) {
			p.Local, p.Eligible = true, a.watch.endpointNodes(v.Service)
		}
		out = append(out, p)
	}
	return out
}

// writeExcluded keeps the excluded track file in step with the node's label; a 1 puts
// every instance in FAULT at once (keepalived watches the file).
func (a *Agent) writeExcluded(excluded bool) error {
	a.mu.Lock()
	same := a.excluded != nil && *a.excluded == excluded
	a.mu.Unlock()
	if same {
		return nil
	}
	value := "0\n"
	if excluded {
		value = "1\n"
	}
	if err := writeFile(a.path(excludedFile), []byte(value)); err != nil {
		return err
	}
	a.mu.Lock()
	a.excluded = &excluded
	a.mu.Unlock()
	a.metrics.NodeExcluded.Set(boolGauge(excluded))
	if excluded {
		klog.InfoS("This node is labelled to carry no LoadBalancer traffic: giving up every VIP", "label", excludeLabel)
	} else {
		klog.InfoS("This node may announce VIPs", "label", excludeLabel)
	}
	return nil
}

// change is a VIP this node started or stopped announcing.
type change struct {
	vip      keepalived.VIP
	instance string
	holding  bool
}

// updateHoldingsLocked recomputes from the instance states which VIPs this node
// holds, refreshes the mastership metrics, and returns what changed.
func (a *Agent) updateHoldingsLocked() []change {
	mine := map[string]bool{}
	masters := 0
	for _, in := range a.plan.Instances {
		master := a.states[in.Name] == "MASTER"
		mine[in.Name] = master
		a.metrics.InstanceMaster.WithLabelValues(in.Name).Set(boolGauge(master))
		if master {
			masters += len(in.VIPs)
		}
	}
	a.metrics.MasterVIPs.Set(float64(masters))
	var changes []change
	now := map[netip.Addr]bool{}
	for _, v := range a.vips {
		inst := a.plan.InstanceFor[v.Addr]
		held := mine[inst]
		now[v.Addr] = held
		a.metrics.VIPAnnounced.WithLabelValues(v.Addr.String(), v.Service).Set(boolGauge(held))
		if held != a.holding[v.Addr] {
			changes = append(changes, change{vip: v, instance: inst, holding: held})
		}
	}
	for addr, held := range a.holding {
		if _, ok := now[addr]; !ok && held {
			changes = append(changes, change{vip: keepalived.VIP{Addr: addr}, holding: false})
		}
	}
	a.forgetSeriesLocked()
	a.holding = now
	return changes
}

// forgetSeriesLocked drops the per-VIP and per-instance series of what is gone.
func (a *Agent) forgetSeriesLocked() {
	current := map[keepalived.VIP]bool{}
	for _, v := range a.vips {
		current[v] = true
	}
	for v := range a.vipSeries {
		if !current[v] {
			a.metrics.VIPAnnounced.DeleteLabelValues(v.Addr.String(), v.Service)
		}
	}
	a.vipSeries = current
	instances := map[string]bool{}
	for _, in := range a.plan.Instances {
		instances[in.Name] = true
	}
	for name := range a.instanceSeries {
		if !instances[name] {
			a.metrics.InstanceMaster.DeleteLabelValues(name)
		}
	}
	a.instanceSeries = instances
}

// announceChanges logs the changes and tells each Service which node announces it.
func (a *Agent) announceChanges(changes []change) {
	if len(changes) == 0 {
		return
	}
	took := 0
	for _, c := range changes {
		if c.holding {
			took++
		}
		klog.V(3).InfoS("VIP holding changed", "vip", c.vip.Addr, "service", c.vip.Service, "holding", c.holding, "instance", c.instance)
		a.serviceEvent(c)
	}
	klog.InfoS("VIPs this node announces changed", "took", took, "gaveUp", len(changes)-took)
}

func (a *Agent) serviceEvent(c change) {
	if a.events == nil || c.vip.Service == "" {
		return
	}
	svc := a.watch.service(c.vip.Service)
	if svc == nil {
		return
	}
	if c.holding {
		a.events.Eventf(svc, corev1.EventTypeNormal, reasonAnnounced, "Node %s announces %s (VRRP instance %s)", a.cfg.NodeName, c.vip.Addr, c.instance)
	} else {
		a.events.Eventf(svc, corev1.EventTypeNormal, reasonWithdrawn, "Node %s stopped announcing %s", a.cfg.NodeName, c.vip.Addr)
	}
}

// reportUnannounced counts the VIPs no node may announce and, on the reporting node,
// tells their Services why, once per change.
func (a *Agent) reportUnannounced(plan placement.Plan, vips []keepalived.VIP, reporter bool) {
	counts := map[placement.Reason]int{placement.NoReadyEndpoint: 0, placement.NodesExcluded: 0, placement.InstanceCap: 0}
	var fresh []keepalived.VIP
	a.mu.Lock()
	for _, v := range vips {
		why, ok := plan.Unannounced[v.Addr]
		if !ok {
			continue
		}
		counts[why]++
		if a.unannounced[v.Addr] != why {
			fresh = append(fresh, v)
		}
	}
	a.unannounced = plan.Unannounced
	a.mu.Unlock()
	for why, n := range counts {
		a.metrics.Unannounced.WithLabelValues(string(why)).Set(float64(n))
	}
	if counts[placement.InstanceCap] > 0 && len(fresh) > 0 {
		klog.InfoS("Some externalTrafficPolicy Local VIPs are not announced: their sets of nodes with endpoints need more VRRP instances than allowed; raise --local-vrrp-instances / $KEEPALIVED_LOCAL_VRRP_INSTANCES",
			"vips", counts[placement.InstanceCap], "localInstances", a.cfg.LocalInstances)
	}
	for _, v := range fresh {
		why := plan.Unannounced[v.Addr]
		klog.V(2).InfoS("VIP not announced by any node", "vip", v.Addr, "service", v.Service, "reason", why)
		if svc := a.watch.service(v.Service); reporter && a.events != nil && svc != nil {
			a.events.Eventf(svc, corev1.EventTypeWarning, reasonNotAnnounced, "%s is not announced by any node: %s", v.Addr, explain(why, a.cfg.LocalInstances))
		}
	}
}

func explain(why placement.Reason, local int) string {
	switch why {
	case placement.NoReadyEndpoint:
		return "externalTrafficPolicy is Local and no node that runs the agent has a ready or serving endpoint of this Service"
	case placement.NodesExcluded:
		return "externalTrafficPolicy is Local and every node with a ready or serving endpoint is labelled " + excludeLabel
	case placement.InstanceCap:
		return fmt.Sprintf("externalTrafficPolicy is Local and the distinct sets of nodes with endpoints need more than the %d VRRP instances allowed (--local-vrrp-instances)", local)
	}
	return string(why)
}

func peerAddrs(peers []Peer) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, p := range peers {
		if p.Addr.IsValid() {
			out[p.Addr] = true
		}
	}
	return out
}
