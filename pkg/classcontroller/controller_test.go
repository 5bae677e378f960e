package classcontroller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servicehelper "k8s.io/cloud-provider/service/helpers"
)

const ours = "k8s.co/keepalived"

func service(class string, typ corev1.ServiceType, finalizer bool) *corev1.Service {
	s := &corev1.Service{Spec: corev1.ServiceSpec{Type: typ}}
	if class != "" {
		s.Spec.LoadBalancerClass = &class
	}
	if finalizer {
		s.Finalizers = []string{servicehelper.LoadBalancerCleanupFinalizer}
	}
	return s
}

// TestMayConcern: only Services of our class are queued, and in class-only mode the
// classless ones that carry the finalizer without wanting a load balancer (a Service
// of ours whose type change dropped its class). Another class never is.
func TestMayConcern(t *testing.T) {
	lb, cip := corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeClusterIP
	for _, c := range []struct {
		name      string
		svc       *corev1.Service
		classOnly bool
		want      bool
	}{
		{"our class", service(ours, lb, false), false, true},
		{"our class, not a LoadBalancer any more", service(ours, cip, true), false, true},
		{"another class", service("example.com/other", lb, false), false, false},
		{"another class with the finalizer, being cleaned up", service("example.com/other", cip, true), true, false},
		{"classless: the upstream controller's", service("", lb, false), false, false},
		{"classless with the finalizer, type changed: the upstream controller's", service("", cip, true), false, false},
		{"classless with the finalizer, type changed, class-only", service("", cip, true), true, true},
		{"classless LoadBalancer, class-only: someone else's", service("", lb, true), true, false},
	} {
		ctrl := &Controller{opts: Options{Class: ours, ClassOnly: c.classOnly}}
		if got := ctrl.mayConcern(c.svc); got != c.want {
			t.Errorf("%s: mayConcern = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestChanged: a status-only update (our own patch) or a resync is no work; spec,
// annotations, finalizers and deletion are.
func TestChanged(t *testing.T) {
	old := service(ours, corev1.ServiceTypeLoadBalancer, true)
	old.ResourceVersion = "1"
	edit := func(f func(*corev1.Service)) *corev1.Service {
		s := old.DeepCopy()
		s.ResourceVersion = "2"
		f(s)
		return s
	}
	now := metav1.Now()
	for _, c := range []struct {
		name string
		cur  *corev1.Service
		want bool
	}{
		{"status only", edit(func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}
		}), false},
		{"resync", old.DeepCopy(), false},
		{"ports", edit(func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{{Port: 53}} }), true},
		{"annotation", edit(func(s *corev1.Service) { s.Annotations = map[string]string{"k": "v"} }), true},
		{"finalizer gone", edit(func(s *corev1.Service) { s.Finalizers = nil }), true},
		{"deleted", edit(func(s *corev1.Service) { s.DeletionTimestamp = &now }), true},
	} {
		if got := changed(old, c.cur); got != c.want {
			t.Errorf("%s: changed = %v, want %v", c.name, got, c.want)
		}
	}
}
