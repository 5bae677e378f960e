// Package nodes lets the upstream cloud-node and cloud-node-lifecycle controllers
// initialise Nodes whose kubelet runs with --cloud-provider=external. Bare metal has no
// cloud API to ask, so everything comes from what the Node already says of itself:
// kubelet's annotation and labels, and annotations an operator may add.
package nodes

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	cloudprovider "k8s.io/cloud-provider"
)

// ProviderIDScheme starts the spec.providerID given to a Node that has none.
const ProviderIDScheme = "keepalived://"

// Annotations an operator may put on a Node.
const (
	// AnnotationInternalIPs and AnnotationExternalIPs add addresses: comma-separated
	// IPv4 and IPv6 addresses.
	AnnotationInternalIPs = "k8s.co/keepalived-internal-ips"
	AnnotationExternalIPs = "k8s.co/keepalived-external-ips"
	// AnnotationShutdown "true" marks the machine as shut down: the lifecycle controller
	// then taints the Node node.cloudprovider.kubernetes.io/shutdown while it is not Ready.
	AnnotationShutdown = "k8s.co/keepalived-shutdown"
)

// Instances is the cloudprovider.InstancesV2 of bare metal. It holds nothing: each
// answer is read from the Node it is given.
type Instances struct{}

var _ cloudprovider.InstancesV2 = Instances{}

// InstanceExists is always true. The lifecycle controller deletes the Node of an instance
// that does not exist; with no API to ask, only an operator knows that a machine is gone.
func (Instances) InstanceExists(context.Context, *corev1.Node) (bool, error) { return true, nil }

// InstanceShutdown is what AnnotationShutdown says; without it, false.
func (Instances) InstanceShutdown(_ context.Context, node *corev1.Node) (bool, error) {
	v, ok := node.Annotations[AnnotationShutdown]
	if !ok {
		return false, nil
	}
	shutdown, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, &AnnotationError{Node: node.Name, Key: AnnotationShutdown, Value: v, Reason: "want true or false"}
	}
	return shutdown, nil
}

// InstanceMetadata is the Node's provider ID (kept when set), its addresses, and the
// instance type, zone and region its labels already give (GA label first, then beta).
func (Instances) InstanceMetadata(_ context.Context, node *corev1.Node) (*cloudprovider.InstanceMetadata, error) {
	addresses, err := Addresses(node)
	if err != nil {
		return nil, err
	}
	providerID := node.Spec.ProviderID
	if providerID == "" {
		providerID = ProviderIDScheme + node.Name
	}
	return &cloudprovider.InstanceMetadata{
		ProviderID:    providerID,
		NodeAddresses: addresses,
		InstanceType:  firstLabel(node, corev1.LabelInstanceTypeStable, corev1.LabelInstanceType),
		Zone:          firstLabel(node, corev1.LabelTopologyZone, corev1.LabelFailureDomainBetaZone),
		Region:        firstLabel(node, corev1.LabelTopologyRegion, corev1.LabelFailureDomainBetaRegion),
	}, nil
}

// firstLabel is the value of the first of keys the Node has a non-empty label for.
func firstLabel(node *corev1.Node, keys ...string) string {
	for _, k := range keys {
		if v := node.Labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// AnnotationError is an annotation of a Node that cannot be read. The node controller
// logs it and retries, so the Node stays tainted until the annotation is fixed.
type AnnotationError struct {
	Node, Key, Value, Reason string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("node %s: annotation %s=%q: %s", e.Node, e.Key, e.Value, e.Reason)
}
