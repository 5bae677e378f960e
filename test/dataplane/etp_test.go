package dataplane

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// Limits for externalTrafficPolicy Local: the targets (3 s for a moved endpoint, 4 s
// for a powered-off node) plus room for a loaded machine; the figures are printed.
const (
	etpMoveLimit   = 4500 * time.Millisecond
	powerLossLimit = 6 * time.Second
	// etpService is the Service with externalTrafficPolicy Local (an ingress
	// controller would be one).
	etpService = "ingress"
	// agentComponent is the event source of the agents.
	agentComponent = "keepalived-vip-agent"
)

// testETPLocal runs the externalTrafficPolicy Local cases in order: a Service whose
// only endpoint is on node1, the endpoint moving to node2, the endpoint not ready, and
// two eligible nodes of which the holder loses power.
func (cl *cluster) testETPLocal(ctx context.Context, t *testing.T) {
	vip := cl.etpOnOneNode(ctx, t)
	cl.etpEndpointMove(ctx, t, vip)
	cl.etpNotReady(ctx, t, vip)
	cl.etpPowerLoss(ctx, t, vip)
}

// etpOnOneNode creates Service ingress (Local) with one ready endpoint on node1: its
// VIP must be on node1 only, answer from node1, show in the agents' metrics and in an
// event naming node1.
func (cl *cluster) etpOnOneNode(ctx context.Context, t *testing.T) string {
	t.Helper()
	cl.setEndpoints(ctx, t, etpService, cl.endpoint("node1", true, true, false))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: etpService, Namespace: testNS}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		// Matches no pod: there is no endpoint controller here, the test writes the slices.
		Selector: map[string]string{"app": etpService},
		Ports:    []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}},
	}}
	if _, err := cl.c.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var vip string
	var inConfigMap time.Time
	err := poll(ctx, 30*time.Second, "Service "+etpService+" (Local) announced on node1", func() (bool, string) {
		if vip == "" {
			if vip = cl.configMapKeyFor(ctx, testNS+"/"+etpService); vip == "" {
				return false, "no ConfigMap entry yet"
			}
			inConfigMap = time.Now()
			cl.ingressVIP = vip
		}
		h := cl.topo.Holders(vip)
		return slices.Equal(h, []string{"node1"}), fmt.Sprintf("%s on %v", vip, h)
	})
	if err != nil {
		t.Fatalf("%v\nprovider: %s", err, cl.provider.Tail(20))
	}
	report(t, "ETP Local Service %s got %s; on node1 (its endpoint's node) %s after its ConfigMap entry appeared",
		etpService, vip, time.Since(inConfigMap).Round(time.Millisecond))
	cl.expectOnlyOn(t, vip, 2*time.Second, "node1")
	cl.checkAnswers(t, vip)
	cl.expectAnnounced(ctx, t, vip, testNS+"/"+etpService, "node1")
	cl.expectServiceEvent(ctx, t, etpService, corev1.EventTypeNormal, "VIPAnnounced", vip, "node1")
	return vip
}

// etpEndpointMove moves the endpoint to node2 and measures until node2 answers ARP
// and node1 no longer holds the VIP.
func (cl *cluster) etpEndpointMove(ctx context.Context, t *testing.T, vip string) {
	t.Helper()
	node2 := cl.topo.Node("node2")
	start := time.Now()
	cl.setEndpoints(ctx, t, etpService, cl.endpoint("node2", true, true, false))
	err := poll(ctx, 15*time.Second, vip+" on node2 alone, answering", func() (bool, string) {
		h := cl.topo.Holders(vip)
		if !slices.Equal(h, []string{"node2"}) {
			return false, fmt.Sprintf("holders %v", h)
		}
		owner := cl.topo.ARPOwner(vip)
		return owner == node2.MAC, "ARP answered by " + owner
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	report(t, "ETP endpoint move → VIP follows: %s (endpoint of %s moved node1 → node2; node2 answers ARP for %s, node1 no longer holds it)",
		took.Round(time.Millisecond), etpService, vip)
	if took > etpMoveLimit {
		t.Errorf("the VIP followed the endpoint after %s; want ≤ %s (target 3s)", took, etpMoveLimit)
	}
	cl.expectAnnounced(ctx, t, vip, testNS+"/"+etpService, "node2")
	cl.expectServiceEvent(ctx, t, etpService, corev1.EventTypeNormal, "VIPAnnounced", vip, "node2")
	cl.expectServiceEventFrom(ctx, t, etpService, corev1.EventTypeNormal, "VIPWithdrawn", "node1", vip)
}

// etpNotReady makes the only endpoint not ready and not serving: no node may hold the
// VIP. Then serving but not ready (terminating): announced again.
func (cl *cluster) etpNotReady(ctx context.Context, t *testing.T, vip string) {
	t.Helper()
	start := time.Now()
	cl.setEndpoints(ctx, t, etpService, cl.endpoint("node2", false, false, false))
	err := poll(ctx, 10*time.Second, "no node holding "+vip, func() (bool, string) {
		h := cl.topo.Holders(vip)
		return len(h) == 0, fmt.Sprintf("holders %v", h)
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "ETP endpoint not ready (ready false, serving false): %s on no node after %s", vip, time.Since(start).Round(time.Millisecond))
	if owner := cl.topo.ARPOwner(vip); owner != "" {
		t.Errorf("ARP for %s answered by %s with no ready endpoint", vip, owner)
	}
	noEndpoint := map[string]string{"reason": "no-ready-endpoint"}
	err = poll(ctx, 10*time.Second, `unannounced_vips{reason="no-ready-endpoint"} 1 on every agent`, func() (bool, string) {
		var seen []string
		ok := true
		for _, n := range cl.topo.Nodes {
			v, found := cl.agents[n.Name].metricWith("keepalived_vip_agent_unannounced_vips", noEndpoint)
			ok = ok && found && v == 1
			seen = append(seen, fmt.Sprintf("%s: %v (found %v)", n.Name, v, found))
		}
		return ok, strings.Join(seen, ", ")
	})
	if err != nil {
		t.Error(err)
	}
	cl.expectAnnounced(ctx, t, vip, testNS+"/"+etpService, "")
	cl.expectServiceEvent(ctx, t, etpService, corev1.EventTypeWarning, "VIPNotAnnounced", vip)

	start = time.Now()
	cl.setEndpoints(ctx, t, etpService, cl.endpoint("node2", false, true, true))
	err = poll(ctx, 10*time.Second, vip+" on node2 again (serving, terminating)", func() (bool, string) {
		h := cl.topo.Holders(vip)
		return slices.Equal(h, []string{"node2"}), fmt.Sprintf("holders %v", h)
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "ETP endpoint serving but not ready (terminating): %s on node2 again after %s", vip, time.Since(start).Round(time.Millisecond))
	cl.checkAnswers(t, vip)
}

// etpPowerLoss gives the Service endpoints on node1 and node2, then powers the holder
// off: its link cut first, then its agent and keepalived killed. The other eligible
// node must answer, and node3 (no endpoint) must never hold the VIP meanwhile.
func (cl *cluster) etpPowerLoss(ctx context.Context, t *testing.T, vip string) {
	t.Helper()
	cl.setEndpoints(ctx, t, etpService, cl.endpoint("node1", true, true, false), cl.endpoint("node2", true, true, false))
	eligible := []string{"node1", "node2"}
	holder := cl.stableHolder(ctx, t, vip, eligible)
	other := cl.topo.Node(eligible[1-slices.Index(eligible, holder.Name)])
	watch := cl.watchHolder(vip, cl.topo.Node("node3"))
	defer watch() // should powerOff fail
	start, restore := cl.powerOff(ctx, t, holder)
	var others []*netns.Node
	for _, n := range cl.topo.Nodes {
		if n != holder {
			others = append(others, n)
		}
	}
	got, took := cl.waitAnswer(ctx, t, vip, others, start, 15*time.Second)
	time.Sleep(time.Second) // and a little longer: nobody else takes it
	seen := watch()
	report(t, "failover after power loss (ETP Local): %s (%s's link cut, then its agent and keepalived killed; %s answers for %s)",
		took.Round(time.Millisecond), holder.Name, got.Name, vip)
	if got != other {
		t.Errorf("after %s lost power, %s answered for %s; want %s, the other node with an endpoint", holder.Name, got.Name, vip, other.Name)
	}
	if took > powerLossLimit {
		t.Errorf("failover after power loss took %s; want ≤ %s (target 4s)", took, powerLossLimit)
	}
	if len(seen) > 0 {
		t.Errorf("node3, which has no endpoint of %s, held %s at %v after the power loss", etpService, vip, seen)
	}
	restore()
	cl.waitHome(ctx, t)
	back := cl.stableHolder(ctx, t, vip, eligible)
	report(t, "power back on %s: %s holds %s alone again after %s", holder.Name, back.Name, vip, time.Since(start).Round(time.Millisecond))
}

// powerOff takes n's power away as its peers would see it: its link cut first, then its
// agent and keepalived killed (SIGKILL, the VRRP child first, so that nothing says
// goodbye). It returns when the link was cut, and restore, which powers n on again: the
// agent first, so that it removes the VIPs its killed keepalived left (a rebooted node
// comes back without them), healthy, then the link. restore acts once; t's cleanup
// calls it should the test not.
func (cl *cluster) powerOff(ctx context.Context, t *testing.T, n *netns.Node) (start time.Time, restore func()) {
	t.Helper()
	a := cl.agents[n.Name]
	parent, child, err := a.keepalivedPIDs()
	if err != nil {
		t.Fatal(err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if !a.running() {
			if err := a.Start(); err != nil {
				t.Error(err)
			} else if err := a.waitHealthy(ctx); err != nil {
				t.Error(err)
			}
		}
		if _, err := netns.IP("-n", cl.topo.BridgeNS, "link", "set", n.Port, "up"); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(restore)
	start = time.Now()
	mustIP(t, "-n", cl.topo.BridgeNS, "link", "set", n.Port, "down")
	_ = syscall.Kill(child, syscall.SIGKILL)
	_ = syscall.Kill(parent, syscall.SIGKILL)
	a.kill()
	return start, restore
}

// stableHolder waits until vip is on exactly one of nodes, answering (ARP for IPv4, its
// page for IPv6), and stays there for 2 s.
func (cl *cluster) stableHolder(ctx context.Context, t *testing.T, vip string, nodes []string) *netns.Node {
	t.Helper()
	var since time.Time
	var last string
	err := poll(ctx, 30*time.Second, vip+" on exactly one of "+strings.Join(nodes, ", ")+" for 2s", func() (bool, string) {
		h := cl.topo.Holders(vip)
		if len(h) != 1 || !slices.Contains(nodes, h[0]) {
			last = ""
			return false, fmt.Sprintf("holders %v", h)
		}
		if owner, _ := cl.topo.Answerer(vip); owner != cl.topo.Node(h[0]) {
			last = ""
			return false, fmt.Sprintf("holders %v", h)
		}
		if h[0] != last {
			last, since = h[0], time.Now()
		}
		return time.Since(since) >= 2*time.Second, "on " + last + " since " + since.Format(time.StampMilli)
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl.topo.Node(last)
}

// expectOnlyOn samples vip's holders for d: always exactly want.
func (cl *cluster) expectOnlyOn(t *testing.T, vip string, d time.Duration, want ...string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if h := cl.topo.Holders(vip); !slices.Equal(h, want) {
			t.Errorf("%s on %v; want only on %v", vip, h, want)
			return
		}
	}
}

// watchHolder samples whether n holds vip every 50 ms until the returned function is
// called (again: a no-op), which returns when it did.
func (cl *cluster) watchHolder(vip string, n *netns.Node) func() []string {
	var mu sync.Mutex
	var seen []string
	stop, done := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for {
			if cl.topo.Addrs(n)[vip] {
				mu.Lock()
				seen = append(seen, time.Since(start).Round(time.Millisecond).String())
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return sync.OnceValue(func() []string {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	})
}

// expectAnnounced waits until keepalived_vip_agent_vip_announced{vip,service} is 1 on
// holder and 0 on every other agent (holder "": 0 everywhere).
func (cl *cluster) expectAnnounced(ctx context.Context, t *testing.T, vip, service, holder string) {
	t.Helper()
	labels := map[string]string{"vip": vip, "service": service}
	err := poll(ctx, 10*time.Second, fmt.Sprintf("vip_announced%v 1 on %q only", labels, holder), func() (bool, string) {
		var seen []string
		ok := true
		for _, n := range cl.topo.Nodes {
			v, found := cl.agents[n.Name].metricWith("keepalived_vip_agent_vip_announced", labels)
			want := 0.0
			if n.Name == holder {
				want = 1
			}
			ok = ok && found && v == want
			seen = append(seen, fmt.Sprintf("%s: %v (found %v)", n.Name, v, found))
		}
		return ok, strings.Join(seen, ", ")
	})
	if err != nil {
		t.Error(err)
	}
}

// expectServiceEvent waits for an event of the agents about Service name with reason
// and type whose message contains every one of texts.
func (cl *cluster) expectServiceEvent(ctx context.Context, t *testing.T, name, typ, reason string, texts ...string) {
	t.Helper()
	cl.expectServiceEventFrom(ctx, t, name, typ, reason, "", texts...)
}

// expectServiceEventFrom is expectServiceEvent for an event by the agent of node
// (its source host, or its name in the message); node "" is any.
func (cl *cluster) expectServiceEventFrom(ctx context.Context, t *testing.T, name, typ, reason, node string, texts ...string) {
	t.Helper()
	var found corev1.Event
	err := poll(ctx, 20*time.Second, fmt.Sprintf("a %s %s event about Service %s from %q containing %q", typ, reason, name, node, texts), func() (bool, string) {
		events, err := controlplane.ServiceEvents(ctx, cl.c, testNS, name)
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range events {
			seen = append(seen, fmt.Sprintf("%s %s %q (%s/%s)", e.Type, e.Reason, e.Message, e.Source.Component, e.Source.Host))
			byNode := node == "" || e.Source.Host == node || strings.Contains(e.Message, node)
			if e.Reason == reason && e.Type == typ && e.Source.Component == agentComponent && byNode && containsAll(e.Message, texts) {
				found = e
				return true, ""
			}
		}
		return false, strings.Join(seen, " | ")
	})
	if err != nil {
		t.Error(err)
		return
	}
	t.Logf("event on Service %s: %s %s %q (from %s/%s)", name, found.Type, found.Reason, found.Message, found.Source.Component, found.Source.Host)
}

func containsAll(s string, texts []string) bool {
	for _, text := range texts {
		if !strings.Contains(s, text) {
			return false
		}
	}
	return true
}

// endpoint is one endpoint of a pod on node with the given conditions.
func (cl *cluster) endpoint(nodeName string, ready, serving, terminating bool) discoveryv1.Endpoint {
	i := slices.IndexFunc(cl.topo.Nodes, func(n *netns.Node) bool { return n.Name == nodeName })
	return discoveryv1.Endpoint{
		Addresses: []string{fmt.Sprintf("10.244.%d.10", i+1)},
		NodeName:  ptr.To(nodeName),
		Conditions: discoveryv1.EndpointConditions{
			Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating),
		},
	}
}

// setEndpoints writes Service service's one EndpointSlice, as the EndpointSlice
// controller would (there is none here).
func (cl *cluster) setEndpoints(ctx context.Context, t *testing.T, service string, eps ...discoveryv1.Endpoint) {
	t.Helper()
	api := cl.c.DiscoveryV1().EndpointSlices(testNS)
	name := service + "-dataplane"
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s = &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{
					discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "dataplane-test",
				}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](8443), Protocol: ptr.To(corev1.ProtocolTCP)}},
				Endpoints:   eps,
			}
			_, err = api.Create(ctx, s, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		s.Endpoints = eps
		_, err = api.Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("EndpointSlice %s/%s: %v", testNS, name, err)
	}
}
