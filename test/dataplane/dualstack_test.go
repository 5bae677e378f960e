package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// IPv6 on the bridge (issue 15): the provider hands out IPv6 addresses from the pool's
// IPv6 range into vipCM6; the agents announce them in VRRPv3 instances of their own,
// a dual-stack Service's IPv6 address in the IPv6 twin of its IPv4 address's instance.
// The client asks for an IPv6 VIP with curl -6 of the page each node serves (its name).
const (
	dualService = "dual"
	v6Service   = "v6only"
	// announce6Limit bounds the wait for a new IPv6 VIP to be on a node: the first VIP
	// of an IPv6 instance brings the instance (keepalived refuses an empty one), whose
	// first master is elected only after about 3 advert intervals.
	announce6Limit = 30 * time.Second
	// curlTimeout bounds one curl that checks who answers.
	curlTimeout = time.Second
)

// testDualStack creates a RequireDualStack Service: both its addresses must be on one
// node, answering from it (ARP, curl -4, curl -6, ping -6); that node loses power: both
// must answer from one and the same other node within the power-loss limit; it comes
// back: both on it again.
func (cl *cluster) testDualStack(ctx context.Context, t *testing.T) {
	cl.servePages(t)
	vips := cl.announceFamilies(ctx, t, dualService, corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol)
	v4, v6 := vips[0], vips[1]
	holder := cl.stablePair(ctx, t, v4, v6, nil)
	cl.checkAnswers(t, v4)
	cl.checkAnswers(t, v6)
	report(t, "dual-stack Service %s: %s and %s both on %s alone, answering ARP, curl -4, curl -6 and ping -6 from it", dualService, v4, v6, holder.Name)

	var others []*netns.Node
	for _, n := range cl.topo.Nodes {
		if n != holder {
			others = append(others, n)
		}
	}
	start, restore := cl.powerOff(ctx, t, holder)
	type answer struct {
		n    *netns.Node
		took time.Duration
		err  error
	}
	answer4 := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithDeadline(ctx, start.Add(15*time.Second))
		defer cancel()
		n, took, err := cl.topo.WaitAnswer(ctx, v4, others, start)
		answer4 <- answer{n, took, err}
	}()
	got6, took6 := cl.waitAnswer(ctx, t, v6, others, start, 15*time.Second)
	a4 := <-answer4
	report(t, "failover after power loss (IPv6): %s (%s's link cut, then its agent and keepalived killed; %s answers curl -6 for %s)",
		took6.Round(time.Millisecond), holder.Name, got6.Name, v6)
	if took6 > powerLossLimit {
		t.Errorf("IPv6 failover after power loss took %s; want ≤ %s (target 4s)", took6, powerLossLimit)
	}
	switch {
	case a4.err != nil:
		t.Errorf("the IPv4 address of the dual-stack Service after %s lost power: %v", holder.Name, a4.err)
	default:
		report(t, "failover after power loss (dual-stack, its IPv4 address): %s (%s answers ARP for %s)", a4.took.Round(time.Millisecond), a4.n.Name, v4)
		if a4.n != got6 {
			t.Errorf("after %s lost power, %s answered for %s but %s for %s; want one node for both", holder.Name, a4.n.Name, v4, got6.Name, v6)
		}
	}
	after := cl.stablePair(ctx, t, v4, v6, holder)
	report(t, "after %s's power loss: %s and %s both on %s alone (besides the powered-off node), answering from it", holder.Name, v4, v6, after.Name)

	restore()
	if left := cl.topo.Addrs(holder); left[v4] || left[v6] {
		t.Errorf("%s's agent restarted, yet its eth0 still has %v of the addresses its killed keepalived left (%s, %s)", holder.Name, left, v4, v6)
	}
	cl.waitBack(ctx, t, v4, holder)
	cl.waitBack(ctx, t, v6, holder)
	back := cl.stablePair(ctx, t, v4, v6, nil)
	report(t, "power back on %s: %s holds %s and %s alone again after %s", holder.Name, back.Name, v4, v6, time.Since(start).Round(time.Millisecond))
	if back != holder {
		t.Errorf("after %s's power came back, %s holds the dual-stack Service's addresses; want %s (its instance's top-ranked node)", holder.Name, back.Name, holder.Name)
	}
	cl.waitHome(ctx, t)
}

// testIPv6SingleStack creates a SingleStack IPv6 Service: its one address must be on
// exactly one node, answering curl -6 and ping -6 from it, and nowhere in the IPv4
// ConfigMap.
func (cl *cluster) testIPv6SingleStack(ctx context.Context, t *testing.T) {
	cl.servePages(t)
	v6 := cl.announceFamilies(ctx, t, v6Service, corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol)[0]
	if key := cl.configMapKeyFor(ctx, testNS+"/"+v6Service); key != "" {
		t.Errorf("IPv6 SingleStack Service %s has an entry %q in %s; want it only in %s", v6Service, key, vipCM, vipCM6)
	}
	var names []string
	for _, n := range cl.topo.Nodes {
		names = append(names, n.Name)
	}
	holder := cl.stableHolder(ctx, t, v6, names)
	cl.checkAnswers(t, v6)
	report(t, "IPv6 SingleStack Service %s: %s on %s alone, answering curl -6 and ping -6 from it", v6Service, v6, holder.Name)
}

// servePages serves each node's page (its name, on port 80 of every address) until t
// ends: the client's curl says which node holds an address.
func (cl *cluster) servePages(t *testing.T) {
	t.Helper()
	for _, n := range cl.topo.Nodes {
		srv, err := netns.ServePage(n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
	}
}

// announceFamilies creates LoadBalancer Service name with policy and families and
// waits until each of its addresses (in families' order) has its ConfigMap entry (IPv4
// in vipCM, IPv6 in vipCM6) and is on a node; it reports the time from each entry to
// its address on a node, checks the Service's status against the entries, and deletes
// the Service when t ends (its addresses must then leave every node).
func (cl *cluster) announceFamilies(ctx context.Context, t *testing.T, name string, policy corev1.IPFamilyPolicy, families ...corev1.IPFamily) []string {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
		IPFamilyPolicy: &policy, IPFamilies: families,
		Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}
	if _, err := cl.c.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vips := make([]string, len(families))
	t.Cleanup(func() { cl.deleteService(ctx, t, name, vips) })
	inConfigMap := make([]time.Time, len(families))
	onNode := make([]time.Time, len(families))
	err := poll(ctx, announce6Limit, fmt.Sprintf("Service %s (%s %v) announced", name, policy, families), func() (bool, string) {
		var seen []string
		for i, f := range families {
			if vips[i] == "" {
				if vips[i] = cl.vipOf(ctx, f, testNS+"/"+name); vips[i] == "" {
					seen = append(seen, "no "+string(f)+" ConfigMap entry yet")
					continue
				}
				inConfigMap[i] = time.Now()
			}
			if onNode[i].IsZero() {
				if len(cl.topo.Holders(vips[i])) == 0 {
					seen = append(seen, "no node holds "+vips[i])
					continue
				}
				onNode[i] = time.Now()
			}
		}
		return len(seen) == 0, strings.Join(seen, "; ")
	})
	if err != nil {
		t.Fatalf("%v\nprovider: %s", err, cl.provider.Tail(20))
	}
	for i, f := range families {
		latency := onNode[i].Sub(inConfigMap[i])
		report(t, "Service %s (%s) got %s (%s); on a node %s after its ConfigMap entry appeared", name, policy, vips[i], f, latency.Round(time.Millisecond))
		// An IPv4 address joins a running instance; an IPv6 one may bring a new instance,
		// which needs its first election.
		if f == corev1.IPv4Protocol && latency > reloadLimit {
			t.Errorf("%s took %s to be on a node after the ConfigMap change; want ≤ %s", vips[i], latency, reloadLimit)
		}
	}
	statusCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := controlplane.WaitForService(statusCtx, cl.c, testNS, name, fmt.Sprintf("%d ingress addresses", len(families)),
		func(s *corev1.Service) bool { return len(s.Status.LoadBalancer.Ingress) >= len(families) })
	if err != nil {
		t.Fatal(err)
	}
	var ingress []string
	for _, ing := range got.Status.LoadBalancer.Ingress {
		ingress = append(ingress, ing.IP)
		if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
			t.Errorf("Service %s: ingress %s has ipMode %v; want VIP", name, ing.IP, ing.IPMode)
		}
	}
	if !slices.Equal(ingress, vips) {
		t.Fatalf("Service %s has status ingress %v; want the ConfigMap entries %v, one per family in order", name, ingress, vips)
	}
	return vips
}

// vipOf is the address of family whose ConfigMap entry names service, or "": IPv4
// keys of vipCM are the address, IPv6 keys of vipCM6 the address with ':' written '-'.
func (cl *cluster) vipOf(ctx context.Context, family corev1.IPFamily, service string) string {
	if family == corev1.IPv4Protocol {
		return cl.configMapKeyFor(ctx, service)
	}
	key := cl.configMapKeyIn(ctx, vipCM6, service)
	if key == "" {
		return ""
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(key, "-", ":"))
	if err != nil || !a.Is6() {
		return "bad key " + key // fails the status check with the key in the message
	}
	return a.String()
}

// stablePair waits until v4 and v6 are both on one and the same node, alone among the
// nodes but off (powered off: what its eth0 still has nobody reaches), and both answer
// from it (ARP and curl -4 for v4, curl -6 for v6) for 2 s; it returns that node.
func (cl *cluster) stablePair(ctx context.Context, t *testing.T, v4, v6 string, off *netns.Node) *netns.Node {
	t.Helper()
	holders := func(vip string) []string {
		return slices.DeleteFunc(cl.topo.Holders(vip), func(name string) bool { return off != nil && name == off.Name })
	}
	var since time.Time
	var last *netns.Node
	err := poll(ctx, 30*time.Second, fmt.Sprintf("%s and %s on one and the same node for 2s", v4, v6), func() (bool, string) {
		h4, h6 := holders(v4), holders(v6)
		if len(h4) != 1 || !slices.Equal(h4, h6) {
			last = nil
			return false, fmt.Sprintf("%s on %v, %s on %v", v4, h4, v6, h6)
		}
		n := cl.topo.Node(h4[0])
		owner4, seen4 := cl.topo.Answerer(v4)
		owner6, seen6 := cl.topo.Answerer(v6)
		page4, err4 := cl.topo.Curl(v4, curlTimeout)
		if owner4 != n || owner6 != n || err4 != nil || page4 != n.Name {
			last = nil
			return false, fmt.Sprintf("both on %s; ARP for %s answered by %q, curl -4 %q (%v), curl -6 for %s %q", n.Name, v4, seen4, page4, err4, v6, seen6)
		}
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 2*time.Second, "both on " + n.Name + " since " + since.Format(time.StampMilli)
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// deleteService deletes Service name and waits until none of vips is on any node.
func (cl *cluster) deleteService(ctx context.Context, t *testing.T, name string, vips []string) {
	t.Helper()
	start := time.Now()
	if err := cl.c.CoreV1().Services(testNS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Error(err)
		return
	}
	err := poll(ctx, 30*time.Second, fmt.Sprintf("the addresses %v of Service %s gone from every node", vips, name), func() (bool, string) {
		var left []string
		for _, vip := range vips {
			if h := cl.topo.Holders(vip); len(h) > 0 {
				left = append(left, fmt.Sprintf("%s on %v", vip, h))
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	if err != nil {
		t.Error(err)
		return
	}
	report(t, "Service %s deleted: %v gone from every node after %s", name, vips, time.Since(start).Round(time.Millisecond))
}
