package e2e

import (
	"maps"
	"testing"
)

// TestConfigMapCreatedOnFirstAllocation: without the ConfigMap the provider starts and
// leads, and creates it (with the product's RBAC alone) when it first publishes.
func TestConfigMapCreatedOnFirstAllocation(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.6.10-10.210.6.20", configMap: defaultConfigMap})
	if cm := e.configMap(); cm != nil {
		t.Fatalf("ConfigMap %s exists before any Service: %v", e.cm, cm.Data)
	}

	e.createService("first")
	ip := e.waitIP("first")
	e.assertInPool("first", ip)
	cm := e.waitEntry(ip, e.key("first"))
	if want := map[string]string{ip: e.key("first")}; !maps.Equal(cm.Data, want) {
		t.Errorf("created ConfigMap has data %v, want %v", cm.Data, want)
	}
	if got := cm.Annotations[annotationOwned]; got != ip {
		t.Errorf("created ConfigMap has %s = %q, want %q", annotationOwned, got, ip)
	}
}
