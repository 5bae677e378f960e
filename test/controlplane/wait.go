package controlplane

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// PollInterval is how often the Wait helpers look; everything is on loopback.
const PollInterval = 100 * time.Millisecond

// poll calls check until it reports done, an error, or ctx ends. On timeout the error
// says what was waited for and what check last saw.
func poll(ctx context.Context, what string, check func(context.Context) (done bool, seen string, err error)) error {
	var seen string
	err := wait.PollUntilContextCancel(ctx, PollInterval, true, func(ctx context.Context) (bool, error) {
		done, s, err := check(ctx)
		// Keep what was seen before the deadline, not the deadline (nor the client's rate
		// limiter refusing to wait past it).
		if ctx.Err() == nil && !strings.Contains(s, "would exceed context deadline") {
			seen = s
		}
		return done, err
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w; last seen: %s", what, err, seen)
	}
	return nil
}

// WaitForService waits until the Service satisfies cond and returns it.
func WaitForService(ctx context.Context, c kubernetes.Interface, ns, name, what string, cond func(*corev1.Service) bool) (*corev1.Service, error) {
	var svc *corev1.Service
	err := poll(ctx, fmt.Sprintf("Service %s/%s: %s", ns, name, what), func(ctx context.Context) (bool, string, error) {
		s, err := c.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		svc = s
		return cond(s), DescribeService(s), nil
	})
	return svc, err
}

// IngressIP is the first ingress IP of the Service's status, or "".
func IngressIP(svc *corev1.Service) string {
	if ing := svc.Status.LoadBalancer.Ingress; len(ing) > 0 {
		return ing[0].IP
	}
	return ""
}

// WaitForIngressIP waits until the Service has an ingress IP and returns the Service.
func WaitForIngressIP(ctx context.Context, c kubernetes.Interface, ns, name string) (*corev1.Service, error) {
	return WaitForService(ctx, c, ns, name, "an ingress IP", func(s *corev1.Service) bool { return IngressIP(s) != "" })
}

// WaitForServiceGone waits until the Service no longer exists.
func WaitForServiceGone(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	return poll(ctx, fmt.Sprintf("Service %s/%s to be gone", ns, name), func(ctx context.Context) (bool, string, error) {
		s, err := c.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		return false, DescribeService(s), nil
	})
}

// WaitForConfigMap waits until the ConfigMap exists and satisfies cond, and returns it.
func WaitForConfigMap(ctx context.Context, c kubernetes.Interface, ns, name, what string, cond func(*corev1.ConfigMap) bool) (*corev1.ConfigMap, error) {
	var cm *corev1.ConfigMap
	err := poll(ctx, fmt.Sprintf("ConfigMap %s/%s: %s", ns, name, what), func(ctx context.Context) (bool, string, error) {
		got, err := c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		cm = got
		return cond(got), fmt.Sprintf("data=%v annotations=%v", got.Data, got.Annotations), nil
	})
	return cm, err
}

// ServiceEvents lists the core/v1 events about the Service, oldest first.
func ServiceEvents(ctx context.Context, c kubernetes.Interface, ns, name string) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.kind": "Service", "involvedObject.name": name}.AsSelector().String()
	list, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	events := list.Items
	slices.SortStableFunc(events, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	return events, nil
}

// WaitForServiceEvent waits for an event about the Service with the reason whose message
// contains every one of texts, and returns it.
func WaitForServiceEvent(ctx context.Context, c kubernetes.Interface, ns, name, reason string, texts ...string) (corev1.Event, error) {
	var found corev1.Event
	what := fmt.Sprintf("a %s event about Service %s/%s containing %q", reason, ns, name, texts)
	err := poll(ctx, what, func(ctx context.Context) (bool, string, error) {
		events, err := ServiceEvents(ctx, c, ns, name)
		if err != nil {
			return false, err.Error(), nil
		}
		var seen []string
		for _, e := range events {
			seen = append(seen, e.Reason+": "+e.Message)
			if e.Reason == reason && containsAll(e.Message, texts) {
				found = e
				return true, "", nil
			}
		}
		return false, strings.Join(seen, " | "), nil
	})
	return found, err
}

func containsAll(s string, texts []string) bool {
	for _, t := range texts {
		if !strings.Contains(s, t) {
			return false
		}
	}
	return true
}

// DescribeService is a one-line summary for failure messages.
func DescribeService(s *corev1.Service) string {
	var ingress []string
	for _, ing := range s.Status.LoadBalancer.Ingress {
		mode := "<nil>"
		if ing.IPMode != nil {
			mode = string(*ing.IPMode)
		}
		ingress = append(ingress, ing.IP+"("+mode+")")
	}
	return fmt.Sprintf("%s/%s type=%s ingress=%v finalizers=%v deleting=%t annotations=%v loadBalancerIP=%q",
		s.Namespace, s.Name, s.Spec.Type, ingress, s.Finalizers, s.DeletionTimestamp != nil,
		s.Annotations, s.Spec.LoadBalancerIP)
}
