package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/munnerz/keepalived-cloud-provider/pkg/trafficpolicy"
)

func endpoint(node string, ready, serving *bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{"10.244.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving}}
	if node != "" {
		e.NodeName = ptr.To(node)
	}
	return e
}

func slice(ns, name, service string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		Endpoints:  eps,
	}
}

func TestEndpointNodes(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	w := &watcher{slices: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{byService: sliceService})}
	for _, s := range []*discoveryv1.EndpointSlice{
		slice("shop", "web-1", "web", endpoint("n1", yes, yes), endpoint("n2", no, no), endpoint("", yes, nil)),
		slice("shop", "web-2", "web", endpoint("n3", nil, nil), endpoint("n4", no, yes), endpoint("n1", yes, nil)),
		slice("other", "web-1", "web", endpoint("n5", yes, yes)), // same name, other namespace
		slice("shop", "api-1", "api", endpoint("n6", yes, yes)),
	} {
		obj, err := trim(s) // as the informer stores them
		if err != nil {
			t.Fatal(err)
		}
		if err := w.slices.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	// n1 ready (twice), n2 neither, no node name skipped, n3 unknown = ready, n4 serving (terminating).
	if diff := cmp.Diff([]string{"n1", "n3", "n4"}, w.endpointNodes("shop/web")); diff != "" {
		t.Errorf("endpoint nodes (-want +got):\n%s", diff)
	}
	if got := w.endpointNodes("shop/none"); got != nil {
		t.Errorf("no slices: got %v", got)
	}
}

func TestTrimKeepsWhatTheAgentReads(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{trafficpolicy.AnnotationIgnore: "true", "big": "x"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports: []corev1.ServicePort{{Port: 80}}, Selector: map[string]string{"app": "web"}},
	}
	got, err := trim(svc)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", Annotations: map[string]string{trafficpolicy.AnnotationIgnore: "true"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trimmed Service (-want +got):\n%s", diff)
	}
}
