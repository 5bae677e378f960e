package e2e

import (
	"context"
	"testing"
)

// TestPoolsUsageSummary: the vip ConfigMap's annotation k8s.co/keepalived-pools-usage
// reads "<pool>: <in use> of <size> in use", pools in file order joined by "; ", then
// how full the ConfigMap is against the Kubernetes size limits, and
// follows every allocation and release. Sizes leave out reserved addresses and a CIDR's
// network and broadcast addresses; a hand-written entry inside a pool counts as in use.
// The README's kubectl command prints it.
func TestPoolsUsageSummary(t *testing.T) {
	pe := preparePoolsEnv(t, `
pools:
  - name: a
    addresses: [10.210.208.10-10.210.208.11]
  - name: b
    addresses: [10.210.208.20-10.210.208.23]
    autoAssign: false
  - name: c
    addresses: [10.210.208.96/29]
reserved: [10.210.208.100]
`)
	e := pe.env
	e.putEntries(map[string]string{"10.210.208.98": ""}, nil) // announced by hand, no backend
	e.startProvider()

	e.createService("s1")
	e.waitAssigned("s1", "10.210.208.10")
	e.waitUsage("a: 1 of 2 in use; b: 0 of 4 in use; c: 1 of 5 in use")

	e.createService("s2", withPool("b"))
	e.waitAssigned("s2", "10.210.208.20")
	e.waitUsage("a: 1 of 2 in use; b: 1 of 4 in use; c: 1 of 5 in use")

	e.createService("s3", withRequestedIP("10.210.208.99"))
	e.waitAssigned("s3", "10.210.208.99")
	e.waitUsage("a: 1 of 2 in use; b: 1 of 4 in use; c: 2 of 5 in use")

	e.createService("s4")
	e.waitAssigned("s4", "10.210.208.11")
	e.createService("s5") // a is full: c, the next pool for every namespace, skipping .98
	e.waitAssigned("s5", "10.210.208.97")
	e.waitUsage("a: 2 of 2 in use; b: 1 of 4 in use; c: 3 of 5 in use")

	e.deleteService("s1")
	e.deleteService("s3")
	want := "a: 1 of 2 in use; b: 1 of 4 in use; c: 2 of 5 in use"
	e.waitUsage(want)

	out, err := cp.Kubectl(context.Background(), "-n", configMapNamespace, "get", "configmap", e.cm,
		"-o", `jsonpath={.metadata.annotations.k8s\.co/keepalived-pools-usage}`)
	if err != nil {
		t.Fatalf("kubectl: %v\n%s", err, out)
	}
	if want += "; ConfigMap: 0% full"; string(out) != want {
		t.Errorf("the README's kubectl command printed %q, want %q", out, want)
	}
}
