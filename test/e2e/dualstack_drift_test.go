package e2e

import (
	"context"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDualStackDriftRepair: while the provider runs, hand edits of its part of the
// IPv6 ConfigMap (an entry deleted, an entry edited, the ownership annotation
// removed, the whole ConfigMap deleted) are reverted within 2 s, with a Warning
// event naming the IPv6 address; keys others wrote there (an IPv6 key, a key in an
// upper-case spelling, an empty value) are never touched, and the IPv4 ConfigMap is left as
// it is. Across a restart, a key someone wrote for an IPv6 address a Service holds is
// reported and left alone, and the Service keeps the address.
func TestDualStackDriftRepair(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.65.10-10.210.65.20,fd00:65::10-fd00:65::20"})
	foreign := map[string]string{"fd00-65--99": "ops/manual", "fd00-65--98": "", "FD00-65--97": "ops/upper-case"}
	e.waitConfigMapNamed(e.cm6, "the IPv6 ConfigMap created at start", func(*corev1.ConfigMap) bool { return true })
	e.editConfigMap6("write foreign keys", func(cm *corev1.ConfigMap) {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		maps.Copy(cm.Data, foreign)
	})
	ips := map[string]string{}
	for _, name := range []string{"a", "b"} {
		e.createService(name, withFamilies(preferDual))
		ips[name] = e.waitFamilies(name, "IPv4", "IPv6")[1]
		e.waitEntry6(ips[name], e.key(name))
	}
	want := maps.Clone(foreign)
	for name, ip := range ips {
		want[key6(ip)] = e.key(name)
	}
	v4 := e.configMap().Data

	e.editConfigMap6("delete a's entry", func(cm *corev1.ConfigMap) { delete(cm.Data, key6(ips["a"])) })
	e.waitData6("a's IPv6 entry restored", repairTimeout, want)
	e.waitEvent("a", "ConfigMapEntryRepaired", e.cm6, ips["a"])

	e.editConfigMap6("point b's entry at another Service", func(cm *corev1.ConfigMap) { cm.Data[key6(ips["b"])] = "other/svc" })
	e.waitData6("b's IPv6 entry restored", repairTimeout, want)
	e.waitEvent("b", "ConfigMapEntryRepaired", ips["b"])

	e.editConfigMap6("remove the ownership annotation", func(cm *corev1.ConfigMap) { delete(cm.Annotations, annotationOwned) })
	e.waitConfigMapNamed(e.cm6, "ownership annotation restored", func(cm *corev1.ConfigMap) bool {
		return maps.Equal(cm.Data, want) && cm.Annotations[annotationOwned] == joinSorted(key6(ips["a"]), key6(ips["b"]))
	})

	if err := e.c.CoreV1().ConfigMaps(configMapNamespace).Delete(context.Background(), e.cm6, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for k := range foreign {
		delete(want, k) // they went with the ConfigMap
	}
	e.waitData6("IPv6 ConfigMap re-created with every entry", repairTimeout, want)
	if got := e.configMap().Data; !maps.Equal(got, v4) {
		t.Errorf("IPv4 ConfigMap changed from %v to %v while the IPv6 one was repaired", v4, got)
	}

	// Restart after someone wrote a's key with another value while the provider was down.
	e.killProvider()
	e.editConfigMap6("hand-write a's key while the provider is down", func(cm *corev1.ConfigMap) {
		cm.Data[key6(ips["a"])] = "elsewhere/x"
		cm.Annotations[annotationOwned] = key6(ips["b"])
	})
	e.startProvider()
	want[key6(ips["a"])] = "elsewhere/x"
	e.waitEvent("a", "ForeignEntryOnAddress", key6(ips["a"]), "keeps "+ips["a"])
	e.waitData6("a's hand-written key left alone", repairTimeout, want)
	if got := e.waitFamilies("a", "IPv4", "IPv6")[1]; got != ips["a"] {
		t.Errorf("a moved from %s to %s across the restart", ips["a"], got)
	}
	e.editConfigMap6("remove the hand-written key", func(cm *corev1.ConfigMap) { delete(cm.Data, key6(ips["a"])) })
	want[key6(ips["a"])] = e.key("a")
	e.waitData6("a's entry published once the key is gone", repairTimeout, want)
}

// joinSorted is the ownership annotation of keys: sorted by address, comma separated.
func joinSorted(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "," + b
}
