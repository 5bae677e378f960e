package dataplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// Two Services sharing one address, each on a port of its own.
const (
	annotationShare = "k8s.co/keepalived-allow-shared-ip"
	sharedPortA     = 80
	sharedPortB     = 8081
)

// testSharedAddress: two Services with one sharing key and different ports get one
// address, on exactly one node, which answers on both ports. Deleting one leaves it
// answering; deleting the other takes it off every node.
func (cl *cluster) testSharedAddress(ctx context.Context, t *testing.T) {
	cl.servePages(t) // port 80
	for _, n := range cl.topo.Nodes {
		srv, err := netns.ServePageOn(n, sharedPortB)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
	}
	a := cl.createSharer(ctx, t, "shared-a", sharedPortA)
	b := cl.createSharer(ctx, t, "shared-b", sharedPortB)
	vip := cl.waitSharedIP(ctx, t, a, b)
	holder := cl.answersOnBoth(ctx, t, vip)
	report(t, "Services %s and %s share %s on %s alone, answering on ports %d and %d", a, b, vip, holder.Name, sharedPortA, sharedPortB)

	if err := cl.c.CoreV1().Services(testNS).Delete(ctx, a, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := controlplane.WaitForServiceGone(ctx, cl.c, testNS, a); err != nil {
		t.Fatal(err)
	}
	if got := cl.configMapKeyFor(ctx, testNS+"/"+b); got != vip {
		t.Errorf("after %s was deleted the entry of %s is %q; want %s", a, b, got, vip)
	}
	if page, err := cl.topo.CurlPort(vip, sharedPortB, curlTimeout); err != nil || page != holder.Name {
		t.Errorf("after %s was deleted, %s:%d answered %q (%v); want %s still", a, vip, sharedPortB, page, err, holder.Name)
	}
	cl.deleteService(ctx, t, b, []string{vip})
}

// createSharer creates a LoadBalancer Service with the sharing key on port, deleted
// (if still there) when t ends.
func (cl *cluster) createSharer(ctx context.Context, t *testing.T, name string, port int32) string {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Annotations: map[string]string{annotationShare: "web"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "shared"},
			Ports: []corev1.ServicePort{{Port: port, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cl.c.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.c.CoreV1().Services(testNS).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// waitSharedIP waits until both Services report one and the same address, which has
// one ConfigMap entry, naming the first by name.
func (cl *cluster) waitSharedIP(ctx context.Context, t *testing.T, a, b string) string {
	t.Helper()
	var ips [2]string
	for i, name := range []string{a, b} {
		s, err := controlplane.WaitForIngressIP(ctx, cl.c, testNS, name)
		if err != nil {
			t.Fatal(err)
		}
		ips[i] = controlplane.IngressIP(s)
	}
	if ips[0] != ips[1] {
		t.Fatalf("%s got %s and %s got %s; want one shared address", a, ips[0], b, ips[1])
	}
	err := poll(ctx, 10*time.Second, "the entry of "+ips[0], func() (bool, string) {
		got := cl.configMapKeyFor(ctx, testNS+"/"+a)
		return got == ips[0], fmt.Sprintf("entry naming %s: %q", a, got)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ips[0]
}

// answersOnBoth waits until vip is on exactly one node, and curl on both ports reaches
// that node; it returns the node.
func (cl *cluster) answersOnBoth(ctx context.Context, t *testing.T, vip string) *netns.Node {
	t.Helper()
	var holder *netns.Node
	err := poll(ctx, 30*time.Second, vip+" answering on both ports from one node", func() (bool, string) {
		holders := cl.topo.Holders(vip)
		if len(holders) != 1 {
			return false, fmt.Sprintf("on nodes %v", holders)
		}
		holder = cl.topo.Node(holders[0])
		pageA, errA := cl.topo.CurlPort(vip, sharedPortA, curlTimeout)
		pageB, errB := cl.topo.CurlPort(vip, sharedPortB, curlTimeout)
		ok := errA == nil && errB == nil && pageA == holder.Name && pageB == holder.Name
		return ok, fmt.Sprintf("on %s; port %d answered %q (%v), port %d %q (%v)", holder.Name, sharedPortA, pageA, errA, sharedPortB, pageB, errB)
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.checkAnswers(t, vip)
	return holder
}
