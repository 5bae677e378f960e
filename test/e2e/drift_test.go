package e2e

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// repairTimeout is how soon a hand edit of the provider's entries must be reverted.
const repairTimeout = 2 * time.Second

// TestDriftRepair: while the provider runs, every hand edit of its part of the ConfigMap
// (an entry deleted, an entry edited, the ownership annotation removed or garbled, the
// whole ConfigMap deleted) is reverted within 2 s with a Warning event, and keys others
// wrote are never touched. Across a restart after such edits, no address moves: a key
// someone else wrote for an address a Service holds is reported and left alone.
func TestDriftRepair(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.220.10-10.210.220.20"})
	foreign := map[string]string{"10.210.220.99": "ops/manual", "10.210.220.98": ""}
	e.putEntries(foreign, nil)
	ips := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		e.createService(name)
		ips[name] = e.waitIP(name)
		e.waitEntry(ips[name], e.key(name))
	}
	want := maps.Clone(foreign)
	for name, ip := range ips {
		want[ip] = e.key(name)
	}

	e.editConfigMap("delete a's entry", func(cm *corev1.ConfigMap) { delete(cm.Data, ips["a"]) })
	e.waitRepaired("a's entry restored", want)
	e.waitEvent("a", "ConfigMapEntryRepaired", ips["a"])

	e.editConfigMap("point b's entry at another Service", func(cm *corev1.ConfigMap) { cm.Data[ips["b"]] = "other/svc:DR" })
	e.waitRepaired("b's entry restored", want)
	e.waitEvent("b", "ConfigMapEntryRepaired", ips["b"])

	e.editConfigMap("remove the ownership annotation", func(cm *corev1.ConfigMap) { delete(cm.Annotations, annotationOwned) })
	e.waitRepaired("ownership annotation restored", want)
	e.editConfigMap("garble the ownership annotation", func(cm *corev1.ConfigMap) { cm.Annotations[annotationOwned] = "x,,10.1" })
	e.waitRepaired("ownership annotation restored", want)

	if err := e.c.CoreV1().ConfigMaps(configMapNamespace).Delete(context.Background(), e.cm, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for k := range foreign {
		delete(want, k) // they went with the ConfigMap
	}
	e.waitRepaired("ConfigMap re-created with every entry", want)

	// Restart after hand edits: a's entry deleted, c's address written by someone else,
	// and the ownership annotation gone. Nothing moves.
	e.killProvider()
	e.editConfigMap("edit while the provider is down", func(cm *corev1.ConfigMap) {
		delete(cm.Data, ips["a"])
		cm.Data[ips["c"]] = "elsewhere/x"
		delete(cm.Annotations, annotationOwned)
	})
	e.startProvider()
	want[ips["c"]] = "elsewhere/x"
	e.waitRepaired("a restored, c's hand-written key left alone", want)
	e.waitEvent("c", "ForeignEntryOnAddress", ips["c"], "keeps")
	for name, ip := range ips {
		if got := e.getIP(name); got != ip {
			t.Errorf("%s moved from %s to %s across the restart", name, ip, got)
		}
	}
	e.editConfigMap("remove the hand-written key", func(cm *corev1.ConfigMap) { delete(cm.Data, ips["c"]) })
	want[ips["c"]] = e.key("c")
	e.waitRepaired("c's entry published once the key is gone", want)
}

// editConfigMap changes the ConfigMap as a person would, retrying on conflicts.
func (e *env) editConfigMap(what string, edit func(*corev1.ConfigMap)) {
	e.t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := e.c.CoreV1().ConfigMaps(configMapNamespace).Get(ctx, e.cm, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		edit(cm)
		_, err = e.c.CoreV1().ConfigMaps(configMapNamespace).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// waitRepaired waits, at most repairTimeout, until the ConfigMap holds exactly want and
// lists as the provider's exactly the keys whose value names a Service of the test.
func (e *env) waitRepaired(what string, want map[string]string) {
	e.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), repairTimeout)
	defer cancel()
	_, err := controlplane.WaitForConfigMap(ctx, e.c, configMapNamespace, e.cm, what, func(cm *corev1.ConfigMap) bool {
		return maps.Equal(cm.Data, want) && slices.Equal(ownedKeysSorted(cm), e.ownKeys(want))
	})
	if err != nil {
		e.t.Fatalf("not repaired within %s: %v", repairTimeout, err)
	}
	e.t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

// ownKeys are the keys of want whose value names one of the test's Services, sorted.
func (e *env) ownKeys(want map[string]string) []string {
	var keys []string
	for k, v := range want {
		if strings.HasPrefix(v, e.ns+"/") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func ownedKeysSorted(cm *corev1.ConfigMap) []string {
	keys := ownedKeys(cm)
	slices.Sort(keys)
	return keys
}

// TestOrphanedEntryRemoved: a Service deleted with its finalizer removed by hand (so the
// service controller never releases it) loses its entry within 2 s, and its address is
// handed out again.
func TestOrphanedEntryRemoved(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.222.10-10.210.222.11"})
	e.createService("orphan")
	ip := e.waitIP("orphan")
	e.waitEntry(ip, e.key("orphan"))
	ctx := context.Background()
	if _, err := e.c.CoreV1().Services(e.ns).Patch(ctx, "orphan", "application/merge-patch+json",
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.CoreV1().Services(e.ns).Delete(ctx, "orphan", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.waitRepaired("orphaned entry removed", map[string]string{})
	t.Logf("orphaned entry %s removed %s after the Service was deleted", ip, time.Since(start).Round(time.Millisecond))
	e.createService("next", withRequestedIP(ip))
	if got := e.waitIP("next"); got != ip {
		t.Errorf("next asked for %s, freed by the orphan, and got %s", ip, got)
	}
}

// TestRequestSafety: by default a Service may only request an address of a pool that
// serves its namespace; special addresses are refused even with the operator's opt-in
// for requests outside the pools; and a request for an address held in another namespace
// is refused without naming the holder, and never wins the address when its holder is
// redeployed.
func TestRequestSafety(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.221.0/28"})
	refusals := map[string][]string{
		"zero":      {"0.0.0.0", "this network"},
		"loopback":  {"127.0.0.1", "loopback"},
		"broadcast": {"255.255.255.255", "240.0.0.0/4"},
		"vrrp":      {"224.0.0.18", "multicast"},
		"link":      {"169.254.169.254", "link-local"},
		"network":   {"10.210.221.0", "network or broadcast"},
		"last":      {"10.210.221.15", "network or broadcast"},
		"outside":   {"192.0.2.7", "outside every address pool", "KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS"},
	}
	for name, texts := range refusals {
		e.createService(name, withRequestedIP(texts[0]))
	}
	for name, texts := range refusals {
		e.waitEvent(name, "SyncLoadBalancerFailed", texts...)
		e.assertNoIP(name, 0)
	}

	other := e.otherNamespace("squat")
	e.createService("web", withRequestedIP("10.210.221.5"))
	e.waitEntry("10.210.221.5", e.key("web"))
	other.createService("squatter", withRequestedIP("10.210.221.5"))
	ev := other.waitEvent("squatter", "SyncLoadBalancerFailed", "10.210.221.5", "another namespace")
	if strings.Contains(ev.Message, e.ns) {
		t.Errorf("the refusal names the holder's namespace to another namespace: %s", ev.Message)
	}
	// The holder is redeployed (delete + create): the address stays in its namespace.
	e.deleteService("web")
	e.createService("web", withRequestedIP("10.210.221.5"))
	if got := e.waitIP("web"); got != "10.210.221.5" {
		t.Errorf("redeployed web got %s, want 10.210.221.5", got)
	}
	other.assertNoIP("squatter", 6*time.Second)
}

// TestRequestSafetyOptIn: with the operator's opt-in, requests outside the pools are
// honoured, but special addresses and the cluster's Service CIDR stay refused.
func TestRequestSafetyOptIn(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.223.0/28", env: []string{
		"KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS=true", "KEEPALIVED_SERVICE_CLUSTER_IP_RANGE=10.96.0.0/12",
	}})
	e.createService("outside", withRequestedIP("192.0.2.7"))
	e.createService("loopback", withRequestedIP("127.0.0.1"))
	e.createService("cluster-ip", withRequestedIP("10.96.0.10"))
	if got := e.waitIP("outside"); got != "192.0.2.7" {
		t.Errorf("outside got %s, want 192.0.2.7", got)
	}
	e.waitEvent("loopback", "SyncLoadBalancerFailed", "127.0.0.1", "loopback")
	e.waitEvent("cluster-ip", "SyncLoadBalancerFailed", "10.96.0.10", "Service CIDR")
	e.assertNoIP("loopback", 0)
	e.assertNoIP("cluster-ip", 0)
}

// otherNamespace is a second namespace of the test, sharing its provider; its Services
// are deleted before the provider stops.
func (e *env) otherNamespace(suffix string) *env {
	e.t.Helper()
	o := &env{t: e.t, c: e.c, ns: e.ns + "-" + suffix, cfg: e.cfg, cm: e.cm, p: e.p}
	ctx := context.Background()
	if _, err := e.c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.ns}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating namespace %s: %v", o.ns, err)
	}
	e.t.Cleanup(func() {
		list, _ := o.c.CoreV1().Services(o.ns).List(ctx, metav1.ListOptions{})
		for _, s := range list.Items {
			o.deleteService(s.Name)
		}
		_ = e.c.CoreV1().Namespaces().Delete(ctx, o.ns, metav1.DeleteOptions{})
	})
	return o
}
