package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// leaseName is the provider's leader-election Lease (its default).
const leaseName = "keepalived-cloud-provider"

// checkProviders: both replicas Running and Ready, one of them holds the Lease.
func (cl *cluster) checkProviders(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	leader, err := cl.waitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cl.pods(ctx, providerName)
	if err != nil {
		t.Fatal(err)
	}
	if !allReady(pods, 2) {
		t.Fatalf("provider pods: %s", summarizePods(pods))
	}
	report("provider: 2/2 pods Running and Ready; pod %s holds Lease %s/%s (%s after they were Ready)", leader, systemNS, leaseName, since(start))
}

// waitLeader waits until a provider pod other than not holds the Lease and returns it.
func (cl *cluster) waitLeader(ctx context.Context, not string) (string, error) {
	var leader string
	err := pollUntil(ctx, 90*time.Second, "a provider pod (not "+not+") holding the Lease", func() (bool, string, error) {
		lease, err := cl.c.CoordinationV1().Leases(systemNS).Get(ctx, leaseName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		pods, err := cl.pods(ctx, providerName)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range pods {
			// The holder identity is the host name (the pod's name), "_", and a UUID.
			if p.Name != not && p.DeletionTimestamp == nil && strings.HasPrefix(holder, p.Name+"_") {
				leader = p.Name
				return true, "", nil
			}
		}
		return false, "holder " + holder + "; " + summarizePods(pods), nil
	})
	return leader, err
}

// createService creates a LoadBalancer Service and returns the address it got and when.
func (cl *cluster) createService(ctx context.Context, t *testing.T, name string) (string, time.Duration) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}, Spec: corev1.ServiceSpec{
		Type:  corev1.ServiceTypeLoadBalancer,
		Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}
	start := time.Now()
	if _, err := cl.c.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := controlplane.WaitForIngressIP(waitCtx, cl.c, testNS, name)
	if err != nil {
		t.Fatalf("%v\n%s", err, cl.describePods(ctx))
	}
	ip := controlplane.IngressIP(got)
	if a, err := netip.ParseAddr(ip); err != nil || !netip.MustParsePrefix(pool).Contains(a) {
		t.Fatalf("Service %s got %q, not an address of the pool %s", name, ip, pool)
	}
	return ip, since(start)
}

// waitVIP waits until the VIP is on the veth (present) or gone from it.
func (cl *cluster) waitVIP(ctx context.Context, vip string, present bool, limit time.Duration) error {
	what := fmt.Sprintf("%s on %s", vip, vethName)
	if !present {
		what = fmt.Sprintf("%s gone from %s", vip, vethName)
	}
	return pollUntil(ctx, limit, what, func() (bool, string, error) {
		if err := cl.comps.alive(); err != nil {
			return false, "", err
		}
		addrs, err := addresses(vethName)
		if err != nil {
			return false, "", err
		}
		on := false
		for _, a := range addrs {
			on = on || a == vip
		}
		return on == present, fmt.Sprintf("addresses %v", addrs), nil
	})
}

// vipsOnVeth lists the addresses on the veth other than its own.
func (cl *cluster) vipsOnVeth() ([]string, error) {
	addrs, err := addresses(vethName)
	var vips []string
	for _, a := range addrs {
		if a+"/24" != vethAddr {
			vips = append(vips, a)
		}
	}
	return vips, err
}

// checkServiceVIP: a Service gets an address, the agent's keepalived puts it on the
// veth; the Service deleted, the address goes.
func (cl *cluster) checkServiceVIP(ctx context.Context, t *testing.T) {
	t.Helper()
	vip, addressed := cl.createService(ctx, t, "web")
	start := time.Now()
	if err := cl.waitVIP(ctx, vip, true, 30*time.Second); err != nil {
		t.Fatalf("%v\nagent: %s", err, cl.logs.tail(ctx, agentName, 30))
	}
	report("Service %s/web: address %s %s after create; on %s %s later", testNS, vip, addressed, vethName, since(start))
	start = time.Now()
	if err := cl.c.CoreV1().Services(testNS).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cl.waitVIP(ctx, vip, false, 30*time.Second); err != nil {
		t.Fatalf("%v\nagent: %s", err, cl.logs.tail(ctx, agentName, 30))
	}
	gone := since(start)
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := controlplane.WaitForServiceGone(waitCtx, cl.c, testNS, "web"); err != nil {
		t.Fatal(err)
	}
	report("Service %s/web deleted: %s gone from %s %s after the delete (the Service object %s)", testNS, vip, vethName, gone, since(start))
}

// checkLiveness waits until kubelet has run each pod's liveness probe successfully
// (its /metrics/probes), and no probe has failed.
func (cl *cluster) checkLiveness(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	var counts map[string]probeCount
	err := pollUntil(ctx, 90*time.Second, "a successful liveness probe of every pod", func() (bool, string, error) {
		pods, err := cl.pods(ctx, "")
		if err != nil {
			return false, err.Error(), nil
		}
		counts, err = cl.livenessProbes(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range pods {
			if counts[p.Name].ok == 0 {
				return false, fmt.Sprintf("%v", counts), nil
			}
		}
		return len(pods) == 3, fmt.Sprintf("%v", counts), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for pod, c := range counts {
		if c.failed > 0 {
			t.Errorf("pod %s: %d liveness probes failed", pod, c.failed)
		}
		parts = append(parts, fmt.Sprintf("%s %d ok", pod, c.ok))
	}
	report("liveness probes pass (kubelet's prober_probe_total): %s (waited %s)", strings.Join(parts, ", "), since(start))
}

type probeCount struct{ ok, failed int }

var probeLine = regexp.MustCompile(`^prober_probe_total\{([^}]*)\} ([0-9.e+]+)$`)

// livenessProbes reads kubelet's probe counters per pod.
func (cl *cluster) livenessProbes(ctx context.Context) (map[string]probeCount, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// kubelet's self-signed serving certificate, on 127.0.0.1.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback, test only
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics/probes", cl.comps.kubeletPort), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	counts := map[string]probeCount{}
	for _, line := range strings.Split(string(body), "\n") {
		m := probeLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(m[1], -1) {
			labels[kv[1]] = kv[2]
		}
		if labels["probe_type"] != "Liveness" {
			continue
		}
		n, _ := strconv.ParseFloat(m[2], 64)
		c := counts[labels["pod"]]
		if labels["result"] == "successful" {
			c.ok += int(n)
		} else {
			c.failed += int(n)
		}
		counts[labels["pod"]] = c
	}
	return counts, nil
}

// failOverProvider deletes the leading provider pod: the other replica takes the
// Lease (after the lease duration: a stopped leader does not release it), and a new
// Service is addressed.
func (cl *cluster) failOverProvider(ctx context.Context, t *testing.T) {
	t.Helper()
	leader, err := cl.waitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	before, err := cl.pods(ctx, providerName)
	if err != nil {
		t.Fatal(err)
	}
	cl.logs.follow(ctx, leader)
	start := time.Now()
	if err := cl.c.CoreV1().Pods(systemNS).Delete(ctx, leader, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	next, err := cl.waitLeader(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	leads := since(start)
	// The standby has been waiting all along; the Deployment's replacement may also win
	// the race for the expired Lease.
	which := "the replacement pod"
	for _, p := range before {
		if p.Name == next {
			which = "the standby"
		}
	}
	vip, addressed := cl.createService(ctx, t, "api")
	if err := cl.waitVIP(ctx, vip, true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	report("leading provider pod %s deleted: %s (%s) leads %s later; new Service %s/api got %s %s after create (%s after the delete)",
		leader, next, which, leads, testNS, vip, addressed, since(start))
	if err := cl.waitWorkloadsReady(ctx); err != nil {
		t.Fatal(err)
	}
	report("the Deployment is back to 2/2 Ready %s after the delete", since(start))
}

// rollAgent restarts the agent DaemonSet (kubectl rollout restart, its RollingUpdate
// strategy) with a VIP up, and measures how long the VIP is off the veth.
func (cl *cluster) rollAgent(ctx context.Context, t *testing.T) {
	t.Helper()
	svc, err := cl.c.CoreV1().Services(testNS).Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vip := controlplane.IngressIP(svc)
	if on, err := hasAddress(vethName, vip); err != nil || !on {
		t.Fatalf("%s is not on %s before the rollout (%v)", vip, vethName, err)
	}
	old, err := cl.pods(ctx, agentName)
	if err != nil || len(old) != 1 {
		t.Fatalf("agent pods before the rollout: %v (%v)", summarizePods(old), err)
	}
	cl.logs.follow(ctx, old[0].Name)
	watch := watchAddress(ctx, vethName, vip)
	start := time.Now()
	if _, err := cl.kubectl(ctx, "-n", systemNS, "rollout", "restart", "daemonset/"+agentName); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.kubectl(ctx, "-n", systemNS, "rollout", "status", "daemonset/"+agentName, "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	rolled := since(start)
	if err := cl.waitVIP(ctx, vip, true, 60*time.Second); err != nil {
		t.Fatalf("%v\nagent: %s", err, cl.logs.tail(ctx, agentName, 30))
	}
	lost, back := watch.stop()
	now, err := cl.pods(ctx, agentName)
	if err != nil || len(now) != 1 || now[0].Name == old[0].Name {
		t.Fatalf("agent pods after the rollout: %v (before: %s) (%v)", summarizePods(now), old[0].Name, err)
	}
	if err := cl.waitWorkloadsReady(ctx); err != nil {
		t.Fatal(err)
	}
	if lost.IsZero() {
		report("agent rollout restart (%s -> %s): rolled out in %s; %s never left %s", old[0].Name, now[0].Name, rolled, vip, vethName)
		return
	}
	report("agent rollout restart (%s -> %s): rolled out in %s; %s off %s from +%s to +%s: a gap of %s",
		old[0].Name, now[0].Name, rolled, vip, vethName, lost.Sub(start).Round(10*time.Millisecond),
		back.Sub(start).Round(10*time.Millisecond), back.Sub(lost).Round(10*time.Millisecond))
}

// addressWatch samples an interface's addresses every 20 ms: the first moment an
// address was missing and the first moment after that it was back.
type addressWatch struct {
	mu         sync.Mutex
	lost, back time.Time
	done       chan struct{}
	finished   chan struct{}
}

func watchAddress(ctx context.Context, dev, ip string) *addressWatch {
	w := &addressWatch{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		for {
			select {
			case <-w.done:
				return
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			on, err := hasAddress(dev, ip)
			if err != nil {
				continue
			}
			w.mu.Lock()
			switch {
			case !on && w.lost.IsZero():
				w.lost = time.Now()
			case on && !w.lost.IsZero() && w.back.IsZero():
				w.back = time.Now()
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// stop ends the watch, once a lost address was seen back (1 s at most), and returns
// when it was lost and back (zero: never lost).
func (w *addressWatch) stop() (lost, back time.Time) {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		settled := w.lost.IsZero() || !w.back.IsZero()
		w.mu.Unlock()
		if settled {
			break
		}
	}
	close(w.done)
	<-w.finished
	return w.lost, w.back
}

// checkNoRestarts: no container of the current pods restarted (liveness held).
func (cl *cluster) checkNoRestarts(ctx context.Context, t *testing.T) {
	t.Helper()
	pods, err := cl.pods(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				t.Errorf("pod %s container %s restarted %d times", p.Name, cs.Name, cs.RestartCount)
			}
		}
	}
}
