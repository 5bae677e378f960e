package nodes

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cloudprovider "k8s.io/cloud-provider"
	cloudnodeutil "k8s.io/cloud-provider/node/helpers"
)

// The names kubelet and the operator use, spelled out so that a rename fails the tests.
const (
	providedNodeIP = "alpha.kubernetes.io/provided-node-ip"
	internalIPs    = "k8s.co/keepalived-internal-ips"
	externalIPs    = "k8s.co/keepalived-external-ips"
	shutdownKey    = "k8s.co/keepalived-shutdown"
)

type nodeOption func(*corev1.Node)

func annotated(key, value string) nodeOption {
	return func(n *corev1.Node) { n.Annotations[key] = value }
}

func labelled(key, value string) nodeOption {
	return func(n *corev1.Node) { n.Labels[key] = value }
}

func withProviderID(id string) nodeOption {
	return func(n *corev1.Node) { n.Spec.ProviderID = id }
}

func reporting(addrs ...corev1.NodeAddress) nodeOption {
	return func(n *corev1.Node) { n.Status.Addresses = addrs }
}

// newNode is a Node as kubelet registers it, before any option.
func newNode(name string, opts ...nodeOption) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}, Labels: map[string]string{}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func external(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
}

func host(name string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeHostName, Address: name}
}

func TestInstanceMetadata(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		want *cloudprovider.InstanceMetadata
	}{
		{
			name: "kubelet --node-ip",
			node: newNode("w1", annotated(providedNodeIP, "192.0.2.11")),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{internal("192.0.2.11"), host("w1")}},
		},
		{
			name: "dual-stack --node-ip, hostname label, canonical IPv6",
			node: newNode("w1", annotated(providedNodeIP, "192.0.2.11,2001:DB8:0::11"), labelled("kubernetes.io/hostname", "w1.example.com")),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{
				internal("192.0.2.11"), internal("2001:db8::11"), host("w1.example.com"),
			}},
		},
		{
			name: "kubelet's leading zeros, as kubelet reads them",
			node: newNode("w1", annotated(providedNodeIP, "192.000.002.011")),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{internal("192.0.2.11"), host("w1")}},
		},
		{
			name: "operator's addresses, both families, blanks, duplicates",
			node: newNode("w1",
				annotated(providedNodeIP, "192.0.2.11"),
				annotated(internalIPs, " 192.0.2.11 , 10.1.0.11,fd00::11,"),
				annotated(externalIPs, "198.51.100.11, 2001:db8:1::11")),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{
				internal("192.0.2.11"), internal("10.1.0.11"), internal("fd00::11"),
				external("198.51.100.11"), external("2001:db8:1::11"), host("w1"),
			}},
		},
		{
			name: "no provided node IP: only the hostname",
			node: newNode("w1"),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{host("w1")}},
		},
		{
			name: "nothing said: kubelet's own addresses are kept",
			node: newNode("w1", labelled("kubernetes.io/hostname", "w1"), reporting(internal("192.0.2.11"), host("w1"))),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{internal("192.0.2.11"), host("w1")}},
		},
		{
			name: "an annotation wins over what the Node reports",
			node: newNode("w1", annotated(externalIPs, "198.51.100.11"), reporting(internal("192.0.2.99"))),
			want: &cloudprovider.InstanceMetadata{ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{external("198.51.100.11"), host("w1")}},
		},
		{
			name: "provider ID already set is kept",
			node: newNode("w1", withProviderID("metal://rack1/w1")),
			want: &cloudprovider.InstanceMetadata{ProviderID: "metal://rack1/w1", NodeAddresses: []corev1.NodeAddress{host("w1")}},
		},
		{
			name: "type, zone and region from the GA labels",
			node: newNode("w1",
				labelled("node.kubernetes.io/instance-type", "r650"), labelled("beta.kubernetes.io/instance-type", "old"),
				labelled("topology.kubernetes.io/zone", "rack-1"), labelled("failure-domain.beta.kubernetes.io/zone", "old"),
				labelled("topology.kubernetes.io/region", "dc-1")),
			want: &cloudprovider.InstanceMetadata{
				ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{host("w1")},
				InstanceType: "r650", Zone: "rack-1", Region: "dc-1",
			},
		},
		{
			name: "beta labels when there is no GA one",
			node: newNode("w1", labelled("beta.kubernetes.io/instance-type", "r640"),
				labelled("failure-domain.beta.kubernetes.io/zone", "rack-2"), labelled("failure-domain.beta.kubernetes.io/region", "dc-2")),
			want: &cloudprovider.InstanceMetadata{
				ProviderID: "keepalived://w1", NodeAddresses: []corev1.NodeAddress{host("w1")},
				InstanceType: "r640", Zone: "rack-2", Region: "dc-2",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Instances{}.InstanceMetadata(context.Background(), tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("InstanceMetadata (-want +got):\n%s", diff)
			}
			checkUpstreamAccepts(t, tc.node, got.NodeAddresses)
		})
	}
}

// checkUpstreamAccepts runs the node controller's own check: it keeps a Node tainted
// while kubelet's provided node IPs are not among the addresses returned.
func checkUpstreamAccepts(t *testing.T, node *corev1.Node, addrs []corev1.NodeAddress) {
	t.Helper()
	provided, ok := node.Annotations[providedNodeIP]
	if !ok {
		return
	}
	if _, err := cloudnodeutil.GetNodeAddressesFromNodeIP(provided, addrs); err != nil {
		t.Errorf("the node controller refuses addresses %v for %s=%q: %v", addrs, providedNodeIP, provided, err)
	}
}

func TestInstanceMetadataRefusesBadAnnotations(t *testing.T) {
	tests := []struct {
		name      string
		node      *corev1.Node
		wantTexts []string // each in the error
		wantKeys  []string // annotations the error names, in order
	}{
		{
			name:      "not an address",
			node:      newNode("w1", annotated(externalIPs, "198.51.100.11,bogus")),
			wantTexts: []string{`node w1: annotation k8s.co/keepalived-external-ips="198.51.100.11,bogus"`, `"bogus": not a node address`, "192.0.2.10,2001:db8::10"},
			wantKeys:  []string{externalIPs},
		},
		{
			name:      "a CIDR, a zone and the unspecified address, all named",
			node:      newNode("w1", annotated(internalIPs, "10.0.0.0/8,fe80::1%eth0,0.0.0.0")),
			wantTexts: []string{`"10.0.0.0/8", "fe80::1%eth0", "0.0.0.0": not a node address`},
			wantKeys:  []string{internalIPs},
		},
		{
			name:      "every bad annotation at once",
			node:      newNode("w1", annotated(providedNodeIP, "node-a"), annotated(internalIPs, "10.0.0.1"), annotated(externalIPs, "198.51.100.300")),
			wantTexts: []string{providedNodeIP + `="node-a"`, externalIPs + `="198.51.100.300"`},
			wantKeys:  []string{providedNodeIP, externalIPs},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Instances{}.InstanceMetadata(context.Background(), tc.node)
			if err == nil {
				t.Fatalf("InstanceMetadata = %+v, want an error", got)
			}
			for _, want := range tc.wantTexts {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			var keys []string
			for _, e := range unwrapAll(err) {
				var ae *AnnotationError
				if errors.As(e, &ae) {
					keys = append(keys, ae.Key)
				}
			}
			if diff := cmp.Diff(tc.wantKeys, keys); diff != "" {
				t.Errorf("annotations named (-want +got):\n%s", diff)
			}
		})
	}
}

// unwrapAll lists the errors joined in err (err itself when it joins none).
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestInstanceExistsAlways(t *testing.T) {
	for _, node := range []*corev1.Node{newNode("w1"), newNode("w2", annotated(shutdownKey, "true"), withProviderID("keepalived://w2"))} {
		exists, err := Instances{}.InstanceExists(context.Background(), node)
		if err != nil || !exists {
			t.Errorf("InstanceExists(%s) = %v, %v; want true: nothing on bare metal can say a machine is gone", node.Name, exists, err)
		}
	}
}

func TestInstanceShutdown(t *testing.T) {
	tests := []struct {
		name    string
		node    *corev1.Node
		want    bool
		wantErr string
	}{
		{name: "no annotation", node: newNode("w1")},
		{name: "true", node: newNode("w1", annotated(shutdownKey, "true")), want: true},
		{name: "blanks and case", node: newNode("w1", annotated(shutdownKey, " True ")), want: true},
		{name: "false", node: newNode("w1", annotated(shutdownKey, "false"))},
		{name: "bad value", node: newNode("w1", annotated(shutdownKey, "yes please")),
			wantErr: `node w1: annotation k8s.co/keepalived-shutdown="yes please": want true or false`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Instances{}.InstanceShutdown(context.Background(), tc.node)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("InstanceShutdown error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("InstanceShutdown = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
