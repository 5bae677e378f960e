package e2e

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TestNodeInitialized: with the settings and RBAC of manifests/components/node-init, a
// Node registered the way kubelet --cloud-provider=external --node-ip=192.0.2.11,2001:db8:170::11
// registers it is initialised within seconds: the uninitialized taint removed (its other
// taints kept), ProviderID keepalived://<name>, kubelet's addresses and the hostname, its
// labels kept and its zone label also written as the beta one.
func TestNodeInitialized(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.170.10-10.210.170.11", env: grantNodeInit(t)})
	e.waitOutput(`Started "cloud-node-controller"`, `Started "cloud-node-lifecycle-controller"`)

	start := time.Now()
	created := e.createNode("w1", withNodeIP("192.0.2.11,2001:db8:170::11"), withTaint("example.com/dedicated", "vip"),
		withNodeLabel("topology.kubernetes.io/zone", "rack-1"), withNodeLabel("example.com/role", "vip"))
	n, took := e.waitInitialized("w1", start)
	if took > 10*time.Second {
		t.Errorf("initialised after %s, want within seconds", took)
	}
	if want := providerIDScheme + n.Name; n.Spec.ProviderID != want {
		t.Errorf("providerID %q, want %q", n.Spec.ProviderID, want)
	}
	if !hasTaint(n, "example.com/dedicated") {
		t.Errorf("taints %v: the Node's own taint was removed too", n.Spec.Taints)
	}
	n = e.waitNode("w1", "addresses", func(n *corev1.Node) bool { return len(n.Status.Addresses) > 0 })
	want := []corev1.NodeAddress{internalIP("192.0.2.11"), internalIP("2001:db8:170::11"), hostnameAddress(n.Name)}
	if diff := cmp.Diff(want, n.Status.Addresses); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	for k, v := range created.Labels {
		if n.Labels[k] != v {
			t.Errorf("label %s=%q became %q", k, v, n.Labels[k])
		}
	}
	if got := n.Labels["failure-domain.beta.kubernetes.io/zone"]; got != "rack-1" {
		t.Errorf("beta zone label %q, want the zone rack-1", got)
	}
	e.assertNoForbidden()
}

// TestNodeExternalAddress: the operator's external addresses (both families) appear beside
// kubelet's, and an edit of the annotation reaches the Node at the next status update
// (--node-status-update-frequency, 5 minutes by default). The flag, not the variable.
func TestNodeExternalAddress(t *testing.T) {
	grantNodeInit(t)
	e := newEnv(t, config{pool: "10.210.171.10-10.210.171.11", args: []string{"--keepalived-initialize-nodes", "--node-status-update-frequency=1s"}})

	start := time.Now()
	e.createNode("w1", withNodeIP("192.0.2.21"), withNodeAnnotation(annotationExternalIPs, "198.51.100.21, 2001:db8:171::21"))
	e.waitInitialized("w1", start)
	name := e.nodeName("w1")
	want := []corev1.NodeAddress{internalIP("192.0.2.21"), externalIP("198.51.100.21"), externalIP("2001:db8:171::21"), hostnameAddress(name)}
	e.waitAddresses("w1", want)

	e.updateNode("w1", func(n *corev1.Node) { n.Annotations[annotationExternalIPs] = "198.51.100.22" })
	e.waitAddresses("w1", []corev1.NodeAddress{internalIP("192.0.2.21"), externalIP("198.51.100.22"), hostnameAddress(name)})
	e.assertNoForbidden()
}

// TestNodeWithoutNodeIP: a kubelet started without --node-ip gives no address; its Node
// is initialised all the same, with its hostname as its address.
func TestNodeWithoutNodeIP(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.172.10-10.210.172.11", env: grantNodeInit(t)})

	start := time.Now()
	e.createNode("w1")
	n, _ := e.waitInitialized("w1", start)
	if want := providerIDScheme + n.Name; n.Spec.ProviderID != want {
		t.Errorf("providerID %q, want %q", n.Spec.ProviderID, want)
	}
	e.waitAddresses("w1", []corev1.NodeAddress{hostnameAddress(n.Name)})
	e.assertNoForbidden()
}

// TestNodeBadAnnotation: an annotation that holds something other than addresses keeps
// the Node tainted with an error naming the annotation, the Node and the bad entry (the
// provider keeps running); once corrected, the Node is initialised.
func TestNodeBadAnnotation(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.173.10-10.210.173.11", env: grantNodeInit(t)})

	e.createNode("w1", withNodeIP("192.0.2.31"), withNodeAnnotation(annotationExternalIPs, "198.51.100.31,not-an-ip"))
	e.waitOutput(`node ` + e.nodeName("w1") + `: annotation k8s.co/keepalived-external-ips="198.51.100.31,not-an-ip": "not-an-ip": not a node address`)
	if n := e.getNode("w1"); !hasTaint(n, taintUninitialized) || n.Spec.ProviderID != "" {
		t.Errorf("a Node with a bad annotation was initialised: %s", describeNode(n))
	}
	if !e.p.Running() {
		t.Fatal("the provider exited")
	}

	start := time.Now()
	e.updateNode("w1", func(n *corev1.Node) { n.Annotations[annotationExternalIPs] = "198.51.100.31" })
	n, _ := e.waitInitialized("w1", start)
	e.waitAddresses("w1", []corev1.NodeAddress{internalIP("192.0.2.31"), externalIP("198.51.100.31"), hostnameAddress(n.Name)})
	e.assertNoForbidden()
}

// TestNodeControllersOffByDefault: with the default settings and RBAC, the node
// controllers do not run, and a Node waiting for a cloud provider (registered before the
// provider starts, so that a node controller would see it at once) is not written at all
// while the provider serves a Service.
func TestNodeControllersOffByDefault(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.174.10-10.210.174.11", manualStart: true})
	before := e.createNode("w1", withNodeIP("192.0.2.41"))
	e.startProvider()
	e.waitOutput(`"cloud-node-controller" is disabled`, `"cloud-node-lifecycle-controller" is disabled`)
	e.createService("s")
	e.waitIP("s")

	// Nothing may happen: watch the Node for a while (a node controller takes well under a second).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n := e.getNode("w1"); n.ResourceVersion != before.ResourceVersion {
			t.Fatalf("the Node was written with the node controllers off:\nbefore: %s\nnow:    %s", describeNode(before), describeNode(n))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := e.getNode("w1"); !hasTaint(n, taintUninitialized) || n.Spec.ProviderID != "" || len(n.Status.Addresses) > 0 {
		t.Errorf("the Node changed: %s", describeNode(n))
	}
	e.assertNoForbidden()
}

// TestNodeInitRBAC: the component grants what the node controllers use and nothing that
// deletes: Nodes are initialised (update, status patch), a shut-down machine's Node is
// tainted by the lifecycle controller (get, patch), a beta zone label is reconciled (get,
// patch), and the log shows no refused request.
func TestNodeInitRBAC(t *testing.T) {
	env := grantNodeInit(t)
	for _, verb := range []string{"get", "list", "watch", "update", "patch"} {
		if !allowed(t, verb, "nodes") {
			t.Errorf("with the component, the provider may not %s nodes", verb)
		}
	}
	if !allowed(t, "patch", "nodes/status") {
		t.Error("with the component, the provider may not patch nodes/status")
	}
	for _, verb := range []string{"delete", "deletecollection", "create"} {
		if allowed(t, verb, "nodes") {
			t.Errorf("with the component, the provider may %s nodes: nothing it runs needs that", verb)
		}
	}
	e := newEnv(t, config{pool: "10.210.175.10-10.210.175.11", env: env, args: []string{"--node-monitor-period=1s"}})

	start := time.Now()
	e.createNode("w1", withNodeIP("192.0.2.51"))
	e.createNode("down", withNodeIP("192.0.2.52"), withNodeAnnotation(annotationShutdown, "true"))
	e.createNode("beta", withoutCloudTaint(), withNodeLabel("failure-domain.beta.kubernetes.io/zone", "rack-9"))
	e.waitInitialized("w1", start)
	e.waitInitialized("down", start)
	e.waitNode("down", "the shutdown taint", func(n *corev1.Node) bool { return hasTaint(n, taintShutdown) })
	e.waitNode("beta", "the GA zone label", func(n *corev1.Node) bool { return n.Labels["topology.kubernetes.io/zone"] == "rack-9" })
	e.waitAddresses("w1", []corev1.NodeAddress{internalIP("192.0.2.51"), hostnameAddress(e.nodeName("w1"))})
	e.assertNoForbidden()
}
