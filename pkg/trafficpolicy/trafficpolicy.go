// Package trafficpolicy is the one reading of a Service's externalTrafficPolicy that the
// provider and the node agent share: the agent announces a Local Service only from the
// nodes of its endpoints, and the provider lets no Local Service share an address.
package trafficpolicy

import corev1 "k8s.io/api/core/v1"

// AnnotationIgnore "true" makes a Local Service count as Cluster: for endpoints without a
// node name (some gateways), where the agent cannot tell which nodes forward.
const AnnotationIgnore = "k8s.co/keepalived-ignore-traffic-policy"

// Local reports whether the Service's traffic must reach the nodes of its own endpoints.
func Local(svc *corev1.Service) bool {
	return svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal &&
		svc.Annotations[AnnotationIgnore] != "true"
}
