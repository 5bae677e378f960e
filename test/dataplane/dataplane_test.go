package dataplane

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// Failover limits the test enforces: the targets (1 s after SIGTERM of the agent, 4 s
// after SIGKILL of keepalived) plus room for a loaded machine; the figures are printed.
const (
	sigtermLimit = 2 * time.Second
	sigkillLimit = 6 * time.Second
	reloadLimit  = 2 * time.Second
)

func TestDataplane(t *testing.T) {
	requirePrerequisites(t)
	// End a minute before go test's -timeout would kill the binary, which runs no
	// cleanup: namespaces and processes must go even then.
	limit := 17 * time.Minute
	if deadline, ok := t.Deadline(); ok {
		limit = min(limit, time.Until(deadline)-time.Minute)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cl := setUp(ctx, t)
	cl.checkSecurityContext(t)

	echo := cl.announce(ctx, t, "echo")
	vips := []string{echo}
	for _, name := range []string{"web", "api", "dns"} {
		vips = append(vips, cl.announce(ctx, t, name))
	}
	cl.checkSpread(ctx, t, vips)
	cl.checkHandWritten(ctx, t)
	cl.failoverOnAgentStop(ctx, t, echo)
	cl.failoverOnKeepalivedKill(ctx, t, echo)
	cl.failoverOnProxyUnhealthy(ctx, t, echo)
	cl.measureIdle(t)

	// issue 12: each a subtest, so that one failing still lets the next run; each
	// puts back what it changed, even when it fails.
	t.Run("ETPLocal", func(t *testing.T) { cl.testETPLocal(ctx, t) })
	t.Run("Exclusion", func(t *testing.T) { cl.testExclusion(ctx, t, vips[1]) })
	t.Run("VRIDCollision", func(t *testing.T) { cl.testVRIDCollision(ctx, t, vips) })
	t.Run("IPVSStrictARP", func(t *testing.T) { cl.testIPVSStrictARP(ctx, t) })
	t.Run("ManyVIPs", func(t *testing.T) { cl.testManyVIPs(ctx, t) })
	// issue 15: IPv6 on the bridge.
	t.Run("DualStack", func(t *testing.T) { cl.testDualStack(ctx, t) })
	t.Run("IPv6SingleStack", func(t *testing.T) { cl.testIPv6SingleStack(ctx, t) })
	// issue 16: two Services on one address.
	t.Run("SharedAddress", func(t *testing.T) { cl.testSharedAddress(ctx, t) })

	if cl.ingressVIP != "" {
		vips = append(vips, cl.ingressVIP)
	}
	cl.deleteAll(ctx, t, vips)
}

// announce creates a LoadBalancer Service and checks that its address is on exactly
// one node and answers from the client; it reports the time from the ConfigMap entry
// to the address being on a node.
func (cl *cluster) announce(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
		Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}
	if _, err := cl.c.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var inConfigMap, onNode time.Time
	var vip string
	err := poll(ctx, 30*time.Second, "Service "+name+" announced", func() (bool, string) {
		if vip == "" {
			vip = cl.configMapKeyFor(ctx, testNS+"/"+name)
			if vip == "" {
				return false, "no ConfigMap entry yet"
			}
			inConfigMap = time.Now()
		}
		holders := cl.topo.Holders(vip)
		if len(holders) == 0 {
			return false, "no node holds " + vip
		}
		onNode = time.Now()
		return true, ""
	})
	if err != nil {
		t.Fatalf("%v\nprovider: %s", err, cl.provider.Tail(20))
	}
	latency := onNode.Sub(inConfigMap)
	report(t, "Service %s got %s; on a node %s after its ConfigMap entry appeared", name, vip, latency.Round(time.Millisecond))
	if latency > reloadLimit {
		t.Errorf("%s took %s to be on a node after the ConfigMap change; want ≤ %s", vip, latency, reloadLimit)
	}
	cl.checkAnswers(t, vip)
	got, err := controlplane.WaitForIngressIP(ctx, cl.c, testNS, name)
	if err != nil || controlplane.IngressIP(got) != vip {
		t.Fatalf("Service status %v (err %v) does not match the ConfigMap entry %s", got.Status, err, vip)
	}
	return vip
}

// checkAnswers checks that vip is on exactly one node, which answers for it (ARP for
// IPv4, its page for IPv6) and to ping.
func (cl *cluster) checkAnswers(t *testing.T, vip string) {
	t.Helper()
	holders := cl.topo.Holders(vip)
	if len(holders) != 1 {
		t.Fatalf("%s is on nodes %v; want exactly one", vip, holders)
	}
	holder := cl.topo.Node(holders[0])
	if owner, seen := cl.topo.Answerer(vip); owner != holder {
		t.Fatalf("the client asked for %s and got %q; want the answer of %s (MAC %s)", vip, seen, holder.Name, holder.MAC)
	}
	if err := cl.topo.Ping(vip); err != nil {
		t.Fatal(err)
	}
}

// configMapKeyFor is the VIP whose entry names service, or "".
func (cl *cluster) configMapKeyFor(ctx context.Context, service string) string {
	return cl.configMapKeyIn(ctx, vipCM, service)
}

// configMapKeyIn is the key of ConfigMap name whose entry names service, or "".
func (cl *cluster) configMapKeyIn(ctx context.Context, name, service string) string {
	cm, err := cl.c.CoreV1().ConfigMaps(vipCMNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	for key, value := range cm.Data {
		if s, _, _ := strings.Cut(value, ":"); s == service {
			return key
		}
	}
	return ""
}

// checkSpread checks that with several VIPs each node is master for some, and that
// the agents' metrics agree with the interfaces.
func (cl *cluster) checkSpread(ctx context.Context, t *testing.T, vips []string) {
	t.Helper()
	err := poll(ctx, 15*time.Second, "every node master for some VIPs", func() (bool, string) {
		count := map[string]int{}
		for _, vip := range vips {
			holders := cl.topo.Holders(vip)
			if len(holders) != 1 {
				return false, fmt.Sprintf("%s on %v", vip, holders)
			}
			count[holders[0]]++
		}
		total := 0.0
		for _, a := range cl.agents {
			m, _ := a.metric("keepalived_vip_agent_master_vips")
			if float64(count[a.node.Name]) != m {
				return false, fmt.Sprintf("%s holds %d VIPs, its master_vips metric says %v", a.node.Name, count[a.node.Name], m)
			}
			total += m
		}
		return len(count) == len(cl.topo.Nodes) && total == float64(len(vips)), fmt.Sprintf("VIPs per node %v", count)
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.home = map[string]*netns.Node{}
	for _, vip := range vips {
		h := cl.topo.Holders(vip)
		report(t, "%s on %v", vip, h)
		cl.home[vip] = cl.topo.Node(h[0])
	}
}

// waitHome waits until every shared-instance VIP is back on its home node: after a
// node restarted, its keepalived leads its instances again only some seconds later.
func (cl *cluster) waitHome(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, vip := range slices.Sorted(maps.Keys(cl.home)) {
		cl.waitBack(ctx, t, vip, cl.home[vip])
	}
}

// checkHandWritten adds an announce-only entry and a bad key by hand: the first is
// announced, the second counted, and both go when removed.
func (cl *cluster) checkHandWritten(ctx context.Context, t *testing.T) {
	t.Helper()
	const handVIP, badKey = subnet + ".150", "not-an-address"
	cl.editConfigMap(ctx, t, func(data map[string]string) { data[handVIP], data[badKey] = "", "default/x" })
	err := poll(ctx, 10*time.Second, "hand-written entry announced and bad key counted", func() (bool, string) {
		bad, _ := cl.agents["node1"].metric("keepalived_vip_agent_bad_entries")
		holders := cl.topo.Holders(handVIP)
		return len(holders) == 1 && bad == 1, fmt.Sprintf("holders %v, bad_entries %v", holders, bad)
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.checkAnswers(t, handVIP)
	cl.editConfigMap(ctx, t, func(data map[string]string) { delete(data, handVIP); delete(data, badKey) })
	err = poll(ctx, 10*time.Second, "hand-written entry gone", func() (bool, string) {
		holders := cl.topo.Holders(handVIP)
		return len(holders) == 0, fmt.Sprintf("holders %v", holders)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (cl *cluster) editConfigMap(ctx context.Context, t *testing.T, edit func(map[string]string)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cl.c.CoreV1().ConfigMaps(vipCMNS).Get(ctx, vipCM, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(cm.Data)
		_, err = cl.c.CoreV1().ConfigMaps(vipCMNS).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// failoverOnAgentStop stops the holder's agent with SIGTERM (a rolling update) and
// measures until another node answers ARP for vip.
func (cl *cluster) failoverOnAgentStop(ctx context.Context, t *testing.T, vip string) {
	t.Helper()
	holder, others := cl.holderAndOthers(t, vip)
	start := time.Now()
	cl.agents[holder.Name].Signal(syscall.SIGTERM)
	other, took := cl.waitAnswer(ctx, t, vip, others, start, 10*time.Second)
	report(t, "failover after SIGTERM of %s's agent: %s answers for %s after %s", holder.Name, other.Name, vip, took.Round(time.Millisecond))
	if took > sigtermLimit {
		t.Errorf("failover after SIGTERM took %s; want ≤ %s (target 1s)", took, sigtermLimit)
	}
	a := cl.agents[holder.Name]
	if err := a.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if h := cl.topo.Holders(vip); slices.Contains(h, holder.Name) {
		t.Errorf("%s still has %s after its agent stopped", holder.Name, vip)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	cl.waitBack(ctx, t, vip, holder)
}

// failoverOnKeepalivedKill kills the holder's keepalived (both processes) with SIGKILL,
// as a crash would, and measures until another node answers ARP for vip.
func (cl *cluster) failoverOnKeepalivedKill(ctx context.Context, t *testing.T, vip string) {
	t.Helper()
	holder, others := cl.holderAndOthers(t, vip)
	a := cl.agents[holder.Name]
	parent, child, err := a.keepalivedPIDs()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = syscall.Kill(child, syscall.SIGKILL) // the VRRP child first, so it cannot say goodbye
	_ = syscall.Kill(parent, syscall.SIGKILL)
	other, took := cl.waitAnswer(ctx, t, vip, others, start, 15*time.Second)
	report(t, "failover after SIGKILL of %s's keepalived: %s answers for %s after %s", holder.Name, other.Name, vip, took.Round(time.Millisecond))
	if took > sigkillLimit {
		t.Errorf("failover after SIGKILL took %s; want ≤ %s (target 4s)", took, sigkillLimit)
	}
	if m, _ := a.metric("keepalived_vip_agent_stale_vips_removed_total"); m < 1 {
		t.Errorf("stale_vips_removed_total = %v on %s; want the killed keepalived's VIPs removed", m, holder.Name)
	}
	cl.waitBack(ctx, t, vip, holder)
}

// failoverOnProxyUnhealthy fails the holder's service proxy health check and measures
// until another node answers; then heals it.
func (cl *cluster) failoverOnProxyUnhealthy(ctx context.Context, t *testing.T, vip string) {
	t.Helper()
	holder, others := cl.holderAndOthers(t, vip)
	start := time.Now()
	cl.proxyUp[holder.Name].Store(false)
	other, took := cl.waitAnswer(ctx, t, vip, others, start, 20*time.Second)
	report(t, "failover after %s's service proxy turned unhealthy (checked every %s, 3 failures): %s after %s",
		holder.Name, healthEvery, other.Name, took.Round(time.Millisecond))
	cl.proxyUp[holder.Name].Store(true)
	cl.waitBack(ctx, t, vip, holder)
}

// holderAndOthers are the node that holds vip and every other node.
func (cl *cluster) holderAndOthers(t *testing.T, vip string) (holder *netns.Node, others []*netns.Node) {
	t.Helper()
	holders := cl.topo.Holders(vip)
	if len(holders) != 1 {
		t.Fatalf("%s is on %v; want one node", vip, holders)
	}
	for _, n := range cl.topo.Nodes {
		if n.Name == holders[0] {
			holder = n
		} else {
			others = append(others, n)
		}
	}
	return holder, others
}

// waitAnswer waits until one of want answers for vip (ARP for IPv4, its page for IPv6)
// and says which, and how long after start.
func (cl *cluster) waitAnswer(ctx context.Context, t *testing.T, vip string, want []*netns.Node, start time.Time, limit time.Duration) (*netns.Node, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithDeadline(ctx, start.Add(limit))
	defer cancel()
	n, took, err := cl.topo.WaitAnswer(ctx, vip, want, start)
	if err != nil {
		t.Fatal(err)
	}
	return n, took
}

// waitBack waits until n, healthy again, holds vip alone again (it has the higher
// priority for vip's instance and preempts), so the next step starts from the same state.
func (cl *cluster) waitBack(ctx context.Context, t *testing.T, vip string, n *netns.Node) {
	t.Helper()
	if err := cl.agents[n.Name].waitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := poll(ctx, 30*time.Second, vip+" back on "+n.Name, func() (bool, string) {
		h := cl.topo.Holders(vip)
		if len(h) != 1 || h[0] != n.Name {
			return false, fmt.Sprintf("holders %v", h)
		}
		owner, seen := cl.topo.Answerer(vip)
		return owner == n, fmt.Sprintf("holders %v, answered %q", h, seen)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s back on %s after %s", vip, n.Name, time.Since(start).Round(time.Millisecond))
}

// measureIdle reports the agents' CPU use over 10 s of idling and their resident memory.
func (cl *cluster) measureIdle(t *testing.T) {
	t.Helper()
	const window = 10 * time.Second
	before := map[string]usage{}
	for name, a := range cl.agents {
		u, err := procUsage(a.pid)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = u
	}
	time.Sleep(window)
	for name, a := range cl.agents {
		u, err := procUsage(a.pid)
		if err != nil {
			t.Fatal(err)
		}
		cpu := float64(u.cpu-before[name].cpu) / float64(window) * 100
		report(t, "idle agent on %s: CPU %.2f%% of one core over %s, RSS %.1f MiB", name, cpu, window, float64(u.rss)/(1<<20))
		if parent, child, err := a.keepalivedPIDs(); err == nil {
			p, _ := procUsage(parent)
			c, _ := procUsage(child)
			report(t, "keepalived on %s: RSS %.1f MiB (parent) + %.1f MiB (VRRP child)", name, float64(p.rss)/(1<<20), float64(c.rss)/(1<<20))
		}
	}
}

// deleteAll deletes the Services and checks that their VIPs leave every node.
func (cl *cluster) deleteAll(ctx context.Context, t *testing.T, vips []string) {
	t.Helper()
	list, err := cl.c.CoreV1().Services(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, s := range list.Items {
		if err := cl.c.CoreV1().Services(testNS).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err = poll(ctx, 30*time.Second, "every VIP gone from every node", func() (bool, string) {
		var left []string
		for _, vip := range vips {
			if h := cl.topo.Holders(vip); len(h) > 0 {
				left = append(left, fmt.Sprintf("%s on %v", vip, h))
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	if err != nil {
		t.Fatalf("%v\nprovider: %s", err, cl.provider.Tail(20))
	}
	report(t, "all %d VIPs gone from every node %s after deleting their Services", len(vips), time.Since(start).Round(time.Millisecond))
}

// poll calls check every 25 ms until it reports done or limit passes.
func poll(ctx context.Context, limit time.Duration, what string, check func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var seen string
	for {
		done, s := check()
		if done {
			return nil
		}
		seen = s
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w; last seen: %s", what, ctx.Err(), seen)
		case <-time.After(25 * time.Millisecond):
		}
	}
}
