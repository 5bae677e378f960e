package provider

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-base/metrics"

	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// startDualCloud is startCloud over a pool of both families.
func startDualCloud(t *testing.T, pool string, objs ...*corev1.Service) (*LoadBalancer, *fake.Clientset) {
	t.Helper()
	pools, _, err := poolconfig.FromCIDRDualStack(pool)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	for _, s := range objs {
		if _, err := client.CoreV1().Services(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	cloud := NewCloud(Config{Pools: pools, Namespace: "kube-system", ConfigMap: "vip-configmap", ConfigMapIPv6: "vip-configmap-ipv6", DefaultMethod: vipconfig.NAT},
		NewMetrics(metrics.NewKubeRegistry().MustRegister), nil)
	cloud.Initialize(clients{client}, stop)
	factory := informers.NewSharedInformerFactory(client, 0)
	cloud.SetInformers(factory)
	factory.Start(stop)
	lb, _ := cloud.LoadBalancer()
	return lb.(*LoadBalancer), client
}

// stackService is a LoadBalancer Service of policy with families, as the API server
// defaults them on a dual-stack cluster.
func stackService(name string, policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) *corev1.Service {
	s := lbService(name)
	s.Spec.IPFamilyPolicy, s.Spec.IPFamilies = &policy, fams
	return s
}

var (
	v4 = corev1.IPv4Protocol
	v6 = corev1.IPv6Protocol
)

// ingressIPs are the status's addresses in order, checking each is ipMode VIP.
func ingressIPs(t *testing.T, s *corev1.LoadBalancerStatus) []string {
	t.Helper()
	var ips []string
	for _, ing := range s.Ingress {
		if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
			t.Errorf("ingress %s has ipMode %v, want VIP", ing.IP, ing.IPMode)
		}
		ips = append(ips, ing.IP)
	}
	return ips
}

// dataOf is a ConfigMap's data; nil when it does not exist.
func dataOf(t *testing.T, client *fake.Clientset, name string) map[string]string {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return cm.Data
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDualStackEnsure: each policy gets the families the pools offer, one ingress per
// family (IPv4 first, ipMode VIP), each published in its own ConfigMap; a refusal
// hands out nothing; a delete removes both entries.
func TestDualStackEnsure(t *testing.T) {
	type want struct {
		ips     []string
		v4, v6  map[string]string // ConfigMap data
		errText []string
	}
	tests := []struct {
		name string
		pool string
		svc  *corev1.Service
		want want
	}{{
		name: "PreferDualStack, both pooled",
		pool: "10.0.0.0/29,fd00::/125",
		svc:  stackService("web", corev1.IPFamilyPolicyPreferDualStack, v6, v4),
		want: want{ips: []string{"10.0.0.1", "fd00::1"}, v4: map[string]string{"10.0.0.1": "default/web"}, v6: map[string]string{"fd00--1": "default/web"}},
	}, {
		name: "PreferDualStack, only IPv4 pooled",
		pool: "10.0.0.0/29",
		svc:  stackService("web", corev1.IPFamilyPolicyPreferDualStack, v4, v6),
		want: want{ips: []string{"10.0.0.1"}, v4: map[string]string{"10.0.0.1": "default/web"}, v6: map[string]string{}},
	}, {
		name: "SingleStack IPv6",
		pool: "10.0.0.0/29,fd00::/125",
		svc:  stackService("web", corev1.IPFamilyPolicySingleStack, v6),
		want: want{ips: []string{"fd00::1"}, v4: map[string]string{}, v6: map[string]string{"fd00--1": "default/web"}},
	}, {
		name: "RequireDualStack without an IPv6 pool",
		pool: "10.0.0.0/29",
		svc:  stackService("web", corev1.IPFamilyPolicyRequireDualStack, v4, v6),
		want: want{v4: map[string]string{}, v6: map[string]string{}, errText: []string{"RequireDualStack needs an IPv6 address", `namespace "default"`, "no address of either family"}},
	}, {
		name: "requests per family",
		pool: "10.0.0.0/29,fd00::/125",
		svc:  withAnnotation(stackService("web", corev1.IPFamilyPolicyRequireDualStack, v4, v6), AnnotationAddress, "fd00::5, 10.0.0.5"),
		want: want{ips: []string{"10.0.0.5", "fd00::5"}, v4: map[string]string{"10.0.0.5": "default/web"}, v6: map[string]string{"fd00--5": "default/web"}},
	}, {
		name: "spec.loadBalancerIP of IPv6",
		pool: "10.0.0.0/29,fd00::/125",
		svc:  withLoadBalancerIP(stackService("web", corev1.IPFamilyPolicyPreferDualStack, v4, v6), "fd00::6"),
		want: want{ips: []string{"10.0.0.1", "fd00::6"}, v4: map[string]string{"10.0.0.1": "default/web"}, v6: map[string]string{"fd00--6": "default/web"}},
	}, {
		name: "two IPv4 requests",
		pool: "10.0.0.0/29,fd00::/125",
		svc:  withAnnotation(stackService("web", corev1.IPFamilyPolicyPreferDualStack, v4, v6), AnnotationAddress, "10.0.0.5,10.0.0.6"),
		want: want{v4: map[string]string{}, v6: map[string]string{}, errText: []string{`"10.0.0.5,10.0.0.6" names two IPv4 addresses`}},
	}, {
		name: "IPv6 request of an IPv4 Service",
		pool: "10.0.0.0/29,fd00::/125",
		svc:  withAnnotation(stackService("web", corev1.IPFamilyPolicySingleStack, v4), AnnotationAddress, "fd00::5"),
		want: want{v4: map[string]string{}, v6: map[string]string{}, errText: []string{"fd00::5, an IPv6 address", "ipFamilies are [IPv4]"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb, client := startDualCloud(t, tt.pool, tt.svc)
			ctx := testCtx(t)
			status, err := lb.EnsureLoadBalancer(ctx, "", tt.svc, nil)
			if len(tt.want.errText) > 0 {
				for _, text := range tt.want.errText {
					if err == nil || !strings.Contains(err.Error(), text) {
						t.Errorf("Ensure = %v, want an error saying %q", err, text)
					}
				}
				flush(t, lb)
			} else if err != nil {
				t.Fatal(err)
			} else if got := ingressIPs(t, status); !slices.Equal(got, tt.want.ips) {
				t.Errorf("status %v, want %v", got, tt.want.ips)
			}
			if got := dataOf(t, client, "vip-configmap"); !maps.Equal(got, tt.want.v4) {
				t.Errorf("IPv4 ConfigMap %v, want %v", got, tt.want.v4)
			}
			if got := dataOf(t, client, "vip-configmap-ipv6"); !maps.Equal(got, tt.want.v6) {
				t.Errorf("IPv6 ConfigMap %v, want %v", got, tt.want.v6)
			}
			if err := lb.EnsureLoadBalancerDeleted(ctx, "", tt.svc); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"vip-configmap", "vip-configmap-ipv6"} {
				if got := dataOf(t, client, name); len(got) != 0 {
					t.Errorf("ConfigMap %s %v after delete, want it empty", name, got)
				}
			}
		})
	}
}

// flush waits until both ConfigMaps carry every decision made so far.
func flush(t *testing.T, lb *LoadBalancer) {
	t.Helper()
	for _, f := range lb.fams {
		if err := f.writer.Wait(testCtx(t), f.ledger.Gen()); err != nil {
			t.Fatal(err)
		}
	}
}

func withAnnotation(s *corev1.Service, key, value string) *corev1.Service {
	s.Annotations = map[string]string{key: value}
	return s
}

func withLoadBalancerIP(s *corev1.Service, ip string) *corev1.Service {
	s.Spec.LoadBalancerIP = ip
	return s
}

// TestRequireDualStackExhausted: when the IPv6 pool is full, a RequireDualStack
// Service gets neither address (the IPv4 one chosen is given back), and gets both
// once an IPv6 address is freed.
func TestRequireDualStackExhausted(t *testing.T) {
	holder := stackService("holder", corev1.IPFamilyPolicySingleStack, v6)
	both := stackService("both", corev1.IPFamilyPolicyRequireDualStack, v4, v6)
	lb, client := startDualCloud(t, "10.0.0.0/29,fd00::7/128", holder, both)
	ctx := testCtx(t)
	if _, err := lb.EnsureLoadBalancer(ctx, "", holder, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.EnsureLoadBalancer(ctx, "", both, nil); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("Ensure with the IPv6 pool full = %v, want no free address", err)
	}
	flush(t, lb)
	if got := dataOf(t, client, "vip-configmap"); len(got) != 0 {
		t.Errorf("IPv4 ConfigMap %v, want the IPv4 address given back", got)
	}
	if err := lb.EnsureLoadBalancerDeleted(ctx, "", holder); err != nil {
		t.Fatal(err)
	}
	status, err := lb.EnsureLoadBalancer(ctx, "", both, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ingressIPs(t, status); !slices.Equal(got, []string{"10.0.0.1", "fd00::7"}) {
		t.Errorf("status %v, want [10.0.0.1 fd00::7]", got)
	}
}

// TestDropFamily: a dual-stack Service turned single-stack gives up the address of the
// family it dropped, and keeps the other.
func TestDropFamily(t *testing.T) {
	svc := stackService("web", corev1.IPFamilyPolicyPreferDualStack, v4, v6)
	lb, client := startDualCloud(t, "10.0.0.0/29,fd00::/125", svc)
	ctx := testCtx(t)
	status, err := lb.EnsureLoadBalancer(ctx, "", svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	single := svc.DeepCopy()
	single.Status.LoadBalancer = *status
	single.Spec.IPFamilyPolicy, single.Spec.IPFamilies = ptrTo(corev1.IPFamilyPolicySingleStack), []corev1.IPFamily{v4}
	status, err = lb.EnsureLoadBalancer(ctx, "", single, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ingressIPs(t, status); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("status %v, want [10.0.0.1]", got)
	}
	if got := dataOf(t, client, "vip-configmap-ipv6"); len(got) != 0 {
		t.Errorf("IPv6 ConfigMap %v, want the dropped family's entry gone", got)
	}
	if got := dataOf(t, client, "vip-configmap"); !maps.Equal(got, map[string]string{"10.0.0.1": "default/web"}) {
		t.Errorf("IPv4 ConfigMap %v, want 10.0.0.1 kept", got)
	}
}

func ptrTo[T any](v T) *T { return &v }
