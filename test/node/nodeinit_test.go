package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkNodeInitialised: the provider, installed with manifests/components/node-init,
// initialised the Node that kubelet registered with --cloud-provider=external: the
// taint is gone, spec.providerID is keepalived://<node>, the addresses are kubelet's
// --node-ip and the Hostname, and kubelet's labels are kept. Until then the agent's
// DaemonSet, which does not tolerate the taint, could not run there.
func (cl *cluster) checkNodeInitialised(ctx context.Context, t *testing.T) {
	t.Helper()
	var node *corev1.Node
	err := pollUntil(ctx, time.Minute, "Node "+cl.node+" initialised by the provider", func() (bool, string, error) {
		n, err := cl.c.CoreV1().Nodes().Get(ctx, cl.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		node = n
		tainted := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == taintUninitialized })
		return !tainted && n.Spec.ProviderID != "", fmt.Sprintf("providerID %q, taints %v", n.Spec.ProviderID, n.Spec.Taints), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "keepalived://" + cl.node; node.Spec.ProviderID != want {
		t.Errorf("Node %s has providerID %q, want %q", cl.node, node.Spec.ProviderID, want)
	}
	internal := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: bridgeIP}
	hostname := corev1.NodeAddress{Type: corev1.NodeHostName, Address: node.Labels[corev1.LabelHostname]}
	if !slices.Contains(node.Status.Addresses, internal) || hostname.Address == "" || !slices.Contains(node.Status.Addresses, hostname) {
		t.Errorf("Node %s has addresses %v, want %v (kubelet's --node-ip) and %v", cl.node, node.Status.Addresses, internal, hostname)
	}
	if node.Labels[corev1.LabelOSStable] != "linux" {
		t.Errorf("Node %s lost kubelet's labels: %v", cl.node, node.Labels)
	}
	report("Node %s (kubelet --cloud-provider=external) initialised by the provider: providerID %s, addresses %v, taint %s gone",
		cl.node, node.Spec.ProviderID, node.Status.Addresses, taintUninitialized)
}
