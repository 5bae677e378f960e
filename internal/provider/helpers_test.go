package provider

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/component-base/metrics"

	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

const testNamespace, testConfigMap = "kube-system", "vip-configmap"

// newTestLB returns a LoadBalancer over pool whose cluster holds objs.
func newTestLB(t *testing.T, pool string, objs ...runtime.Object) (*LoadBalancer, *fake.Clientset) {
	t.Helper()
	pools, _, err := poolconfig.FromCIDR(pool)
	if err != nil {
		t.Fatalf("pool %q: %v", pool, err)
	}
	return newTestLBWithPools(t, pools, objs...)
}

// newTestLBWithPools returns a LoadBalancer over pools whose cluster holds objs.
func newTestLBWithPools(t *testing.T, pools *poolconfig.Config, objs ...runtime.Object) (*LoadBalancer, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	enforceResourceVersions(client)
	cfg := Config{Pools: pools, Namespace: testNamespace, ConfigMap: testConfigMap, DefaultMethod: vipconfig.NAT}
	return NewLoadBalancer(cfg, client, NewMetrics(metrics.NewKubeRegistry().MustRegister)), client
}

type serviceOption func(*corev1.Service)

func newService(name string, opts ...serviceOption) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: "uid-" + "name"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func annotated(key, value string) serviceOption {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[key] = value
	}
}

func specIP(ip string) serviceOption { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }

func statusIP(ip string) serviceOption {
	return func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}} }
}

func families(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) serviceOption {
	return func(s *corev1.Service) { s.Spec.IPFamilyPolicy, s.Spec.IPFamilies = &policy, fams }
}

func vipConfigMap(data, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testConfigMap, Annotations: annotations}, Data: data}
}

// ensure calls EnsureLoadBalancer and returns the address it reports, failing on error.
func ensure(t *testing.T, lb *LoadBalancer, svc *corev1.Service) string {
	t.Helper()
	status, err := lb.EnsureLoadBalancer(context.Background(), "cluster", svc, nil)
	if err != nil {
		t.Fatalf("EnsureLoadBalancer(%s) = %v", svc.Name, err)
	}
	if len(status.Ingress) != 1 || status.Ingress[0].IPMode == nil || *status.Ingress[0].IPMode != corev1.LoadBalancerIPModeVIP {
		t.Fatalf("EnsureLoadBalancer(%s) status = %+v, want one ingress with ipMode VIP", svc.Name, status)
	}
	return status.Ingress[0].IP
}

func ensureErr(t *testing.T, lb *LoadBalancer, svc *corev1.Service) error {
	t.Helper()
	status, err := lb.EnsureLoadBalancer(context.Background(), "cluster", svc, nil)
	if err == nil {
		t.Fatalf("EnsureLoadBalancer(%s) = %+v, want an error", svc.Name, status)
	}
	return err
}

// data returns the vip ConfigMap's data.
func data(t *testing.T, client *fake.Clientset) map[string]string {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), testConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading ConfigMap: %v", err)
	}
	return cm.Data
}

// enforceResourceVersions makes the fake client behave like the API server for ConfigMaps:
// every write bumps resourceVersion and an update from a stale read fails with a conflict.
func enforceResourceVersions(client *fake.Clientset) {
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	client.PrependReactor("*", "configmaps", func(action k8stesting.Action) (bool, runtime.Object, error) {
		write, ok := action.(k8stesting.CreateAction) // UpdateAction has the same shape
		if !ok || (action.GetVerb() != "create" && action.GetVerb() != "update") {
			return false, nil, nil
		}
		cm := write.GetObject().(*corev1.ConfigMap).DeepCopy()
		next := 1
		if current, err := client.Tracker().Get(gvr, cm.Namespace, cm.Name); err == nil && action.GetVerb() == "update" {
			rv := current.(*corev1.ConfigMap).ResourceVersion
			if cm.ResourceVersion != rv {
				return true, nil, apierrors.NewConflict(gvr.GroupResource(), cm.Name, fmt.Errorf("resourceVersion %q is stale, current is %q", cm.ResourceVersion, rv))
			}
			next, _ = strconv.Atoi(rv)
			next++
		}
		cm.ResourceVersion = strconv.Itoa(next)
		var err error
		if action.GetVerb() == "create" {
			err = client.Tracker().Create(gvr, cm, cm.Namespace)
		} else {
			err = client.Tracker().Update(gvr, cm, cm.Namespace)
		}
		return true, cm, err
	})
}
