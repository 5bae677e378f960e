package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers to create, change and watch the test's Services.

type svcOption func(*corev1.Service)

func withAnnotation(key, value string) svcOption {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[key] = value
	}
}

func withForwardMethod(m string) svcOption { return withAnnotation(annotationForwardMethod, m) }
func withRequestedIP(ip string) svcOption  { return withAnnotation(annotationAddress, ip) }
func withLoadBalancerIP(ip string) svcOption {
	return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip }
}

func newService(ns, name string, opts ...svcOption) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (e *env) createService(name string, opts ...svcOption) *corev1.Service {
	e.t.Helper()
	s, err := e.c.CoreV1().Services(e.ns).Create(context.Background(), newService(e.ns, name, opts...), metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating Service %s: %v", name, err)
	}
	return s
}

func (e *env) key(name string) string { return e.ns + "/" + name }

// updateService changes the Service with a read-modify-write (retried on conflict).
func (e *env) updateService(name string, change func(*corev1.Service)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := e.c.CoreV1().Services(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(s)
		_, err = e.c.CoreV1().Services(e.ns).Update(context.Background(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("updating Service %s: %v", name, err)
	}
}

func (e *env) getService(name string) *corev1.Service {
	e.t.Helper()
	s, err := e.c.CoreV1().Services(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("getting Service %s: %v", name, err)
	}
	return s
}

// waitIP waits for the Service's address and checks the status is exactly one ingress
// with that IP and ipMode VIP.
func (e *env) waitIP(name string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	s, err := controlplane.WaitForIngressIP(ctx, e.c, e.ns, name)
	if err != nil {
		e.t.Fatal(err)
	}
	checkStatus(e.t, s)
	return controlplane.IngressIP(s)
}

func checkStatus(t *testing.T, s *corev1.Service) {
	t.Helper()
	ing := s.Status.LoadBalancer.Ingress
	if len(ing) != 1 {
		t.Fatalf("Service %s/%s has %d ingress entries, want 1: %s", s.Namespace, s.Name, len(ing), controlplane.DescribeService(s))
	}
	if ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
		t.Errorf("Service %s/%s ingress ipMode = %v, want VIP", s.Namespace, s.Name, ing[0].IPMode)
	}
	if ing[0].Hostname != "" || len(ing[0].Ports) != 0 {
		t.Errorf("Service %s/%s ingress has hostname %q / ports %v, want only an IP", s.Namespace, s.Name, ing[0].Hostname, ing[0].Ports)
	}
	if a, err := netip.ParseAddr(ing[0].IP); err != nil || !a.Is4() {
		t.Errorf("Service %s/%s ingress IP %q is not IPv4", s.Namespace, s.Name, ing[0].IP)
	}
}

// waitServiceIs waits until the Service's ingress IP is want ("" means none).
func (e *env) waitServiceIs(name, want string, timeout time.Duration) *corev1.Service {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := controlplane.WaitForService(ctx, e.c, e.ns, name, fmt.Sprintf("ingress IP %q", want), func(s *corev1.Service) bool {
		return controlplane.IngressIP(s) == want
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// assertNoIP checks that the Service has no ingress IP now and for the next d.
func (e *env) assertNoIP(name string, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if s := e.getService(name); controlplane.IngressIP(s) != "" {
			e.t.Fatalf("Service %s got an address, want none: %s", name, controlplane.DescribeService(s))
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *env) deleteService(name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	if err := e.c.CoreV1().Services(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("deleting Service %s: %v", name, err)
	}
	if err := controlplane.WaitForServiceGone(ctx, e.c, e.ns, name); err != nil {
		e.t.Fatal(err)
	}
}

// waitEvent waits for an event about the Service with reason and every text.
func (e *env) waitEvent(name, reason string, texts ...string) corev1.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	ev, err := controlplane.WaitForServiceEvent(ctx, e.c, e.ns, name, reason, texts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// expectEvent is waitEvent that reports a missing event as an error and carries on.
func (e *env) expectEvent(name, reason string, texts ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if _, err := controlplane.WaitForServiceEvent(ctx, e.c, e.ns, name, reason, texts...); err != nil {
		e.t.Error(err)
	}
}

// getIP is the Service's ingress IP now ("" if none).
func (e *env) getIP(name string) string {
	e.t.Helper()
	return controlplane.IngressIP(e.getService(name))
}

// waitGone waits for the Service to be gone.
func (e *env) waitGone(ctx context.Context, name string) {
	e.t.Helper()
	if err := controlplane.WaitForServiceGone(ctx, e.c, e.ns, name); err != nil {
		e.t.Fatal(err)
	}
}
