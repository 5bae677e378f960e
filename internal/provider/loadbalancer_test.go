package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/cloud-provider/api"

	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

func TestEnsureLoadBalancer(t *testing.T) {
	tests := []struct {
		name string
		pool string
		objs []runtime.Object
		run  func(t *testing.T, lb *LoadBalancer, client *fake.Clientset)
	}{
		{
			name: "lowest free address, idempotent, ConfigMap created",
			pool: "10.0.0.0/29",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				web := newService("web")
				expectIP(t, ensure(t, lb, web), "10.0.0.1")
				expectIP(t, ensure(t, lb, web), "10.0.0.1")
				expectIP(t, ensure(t, lb, newService("api")), "10.0.0.2")
				expectData(t, client, map[string]string{"10.0.0.1": "default/web", "10.0.0.2": "default/api"})
			},
		},
		{
			name: "forward method from annotation, changed without moving",
			pool: "10.0.0.0/29",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectIP(t, ensure(t, lb, newService("echo", annotated(AnnotationForwardMethod, "dr"))), "10.0.0.1")
				expectData(t, client, map[string]string{"10.0.0.1": "default/echo:DR"})
				expectIP(t, ensure(t, lb, newService("echo", annotated(AnnotationForwardMethod, "PROXY"))), "10.0.0.1")
				expectData(t, client, map[string]string{"10.0.0.1": "default/echo:PROXY"})
				err := ensureErr(t, lb, newService("echo", annotated(AnnotationForwardMethod, "TUN")))
				expectErr(t, err, `annotation k8s.co/keepalived-forward-method: "TUN" is not a forward method; use NAT, DR or PROXY`)
			},
		},
		{
			name: "requested addresses, in and outside the pool",
			pool: "10.0.0.0/29",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectIP(t, ensure(t, lb, newService("a", annotated(AnnotationAddress, "10.0.0.5"))), "10.0.0.5")
				expectIP(t, ensure(t, lb, newService("b", specIP("192.168.7.7"))), "192.168.7.7")
				expectIP(t, ensure(t, lb, newService("c", specIP("10.0.0.3"), annotated(AnnotationAddress, "10.0.0.3"))), "10.0.0.3")
				expectErr(t, ensureErr(t, lb, newService("d", specIP("10.0.0.4"), annotated(AnnotationAddress, "10.0.0.6"))), "ask for different addresses")
				expectErr(t, ensureErr(t, lb, newService("e", specIP("10.0.0.5"))), "requested address 10.0.0.5 is not available: address 10.0.0.5 is already held by default/a")
				expectErr(t, ensureErr(t, lb, newService("f", specIP("fd00::1"))), "cannot publish IPv6")
				expectErr(t, ensureErr(t, lb, newService("g", specIP("nonsense"))), `spec.loadBalancerIP: "nonsense" is not an IPv4 address`)
				expectData(t, client, map[string]string{"10.0.0.5": "default/a", "192.168.7.7": "default/b", "10.0.0.3": "default/c"})
			},
		},
		{
			name: "changed request moves the address, dropped request keeps it",
			pool: "10.0.0.0/29",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1")
				expectIP(t, ensure(t, lb, newService("a", specIP("10.0.0.6"))), "10.0.0.6")
				expectIP(t, ensure(t, lb, newService("a")), "10.0.0.6")
				expectData(t, client, map[string]string{"10.0.0.6": "default/a"})
				expectIP(t, ensure(t, lb, newService("b")), "10.0.0.1")
			},
		},
		{
			name: "foreign and empty entries are never handed out or touched",
			pool: "10.0.0.0/29",
			objs: []runtime.Object{vipConfigMap(map[string]string{"10.0.0.1": "", "10.0.0.2": "ops/manual:DR", "extra": "x"}, nil)},
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectIP(t, ensure(t, lb, newService("a")), "10.0.0.3")
				err := ensureErr(t, lb, newService("b", specIP("10.0.0.2")))
				expectErr(t, err, "held by an entry in ConfigMap kube-system/vip-configmap that keepalived-cloud-provider does not manage")
				if err := lb.EnsureLoadBalancerDeleted(context.Background(), "", newService("a")); err != nil {
					t.Fatal(err)
				}
				expectData(t, client, map[string]string{"10.0.0.1": "", "10.0.0.2": "ops/manual:DR", "extra": "x"})
			},
		},
		{
			name: "restart keeps published, reported and requested addresses",
			pool: "10.0.0.0/28",
			objs: []runtime.Object{
				vipConfigMap(map[string]string{"10.0.0.5": "default/published:DR"}, map[string]string{vipconfig.OwnedAnnotation: "10.0.0.5"}),
				newService("published", annotated(AnnotationForwardMethod, "DR"), statusIP("10.0.0.5")),
				newService("reported", statusIP("10.0.0.1")),
				newService("pending", specIP("10.0.0.2")),
				newService("clusterip", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP; s.Spec.LoadBalancerIP = "10.0.0.3" }),
			},
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectIP(t, ensure(t, lb, newService("new")), "10.0.0.3")
				expectIP(t, ensure(t, lb, newService("published", annotated(AnnotationForwardMethod, "DR"))), "10.0.0.5")
				expectIP(t, ensure(t, lb, newService("reported", statusIP("10.0.0.1"))), "10.0.0.1")
				expectIP(t, ensure(t, lb, newService("pending", specIP("10.0.0.2"))), "10.0.0.2")
			},
		},
		{
			name: "2017 seed ConfigMap is adopted without moving addresses",
			pool: "10.0.0.0/29",
			objs: []runtime.Object{
				vipConfigMap(map[string]string{"10.0.0.4": "default/old", "10.0.0.1": "ops/manual"}, map[string]string{
					vipconfig.SeedAnnotation: `{"services":[{"uid":"u","ip":"10.0.0.4","serviceNamespace":"default","serviceName":"old","forwardMethod":""}]}`}),
			},
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				status, exists, err := lb.GetLoadBalancer(context.Background(), "", newService("old"))
				if err != nil || !exists || status.Ingress[0].IP != "10.0.0.4" {
					t.Fatalf("GetLoadBalancer(old) = %+v, %v, %v; want 10.0.0.4 existing", status, exists, err)
				}
				expectIP(t, ensure(t, lb, newService("old")), "10.0.0.4")
				expectIP(t, ensure(t, lb, newService("new")), "10.0.0.2")
				expectData(t, client, map[string]string{"10.0.0.4": "default/old", "10.0.0.1": "ops/manual", "10.0.0.2": "default/new"})
			},
		},
		{
			name: "exhaustion retries soon and says how full the pool is",
			pool: "10.0.0.10-10.0.0.11",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				ensure(t, lb, newService("a"))
				ensure(t, lb, newService("b"))
				err := ensureErr(t, lb, newService("c"))
				var retry *api.RetryError
				if !errors.As(err, &retry) || retry.RetryAfter() != allocationRetry {
					t.Errorf("error %v is not a RetryError after %v", err, allocationRetry)
				}
				expectErr(t, err, "no free address in 10.0.0.10/31 (2 of 2 in use)")
				if err := lb.EnsureLoadBalancerDeleted(context.Background(), "", newService("a")); err != nil {
					t.Fatal(err)
				}
				expectIP(t, ensure(t, lb, newService("c")), "10.0.0.10")
			},
		},
		{
			name: "IPv6 is refused with the reason, PreferDualStack gets IPv4",
			pool: "10.0.0.0/29",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectErr(t, ensureErr(t, lb, newService("v6", families(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol))), "cannot publish IPv6")
				expectErr(t, ensureErr(t, lb, newService("dual", families(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))), "RequireDualStack")
				expectIP(t, ensure(t, lb, newService("pref", families(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv6Protocol, corev1.IPv4Protocol))), "10.0.0.1")
			},
		},
		{
			name: "a freed address goes to the Service that asked for it",
			pool: "10.0.0.0/29",
			run: func(t *testing.T, lb *LoadBalancer, client *fake.Clientset) {
				expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1")
				expectErr(t, ensureErr(t, lb, newService("b", specIP("10.0.0.1"))), "held by default/a")
				if err := lb.EnsureLoadBalancerDeleted(context.Background(), "", newService("a")); err != nil {
					t.Fatal(err)
				}
				expectIP(t, ensure(t, lb, newService("c")), "10.0.0.2")
				expectIP(t, ensure(t, lb, newService("b", specIP("10.0.0.1"))), "10.0.0.1")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb, client := newTestLB(t, tt.pool, tt.objs...)
			tt.run(t, lb, client)
		})
	}
}

func TestDeleteAndGet(t *testing.T) {
	lb, client := newTestLB(t, "10.0.0.0/29", vipConfigMap(map[string]string{"10.0.0.6": ""}, nil))
	ctx := context.Background()
	web := newService("web")
	if _, exists, err := lb.GetLoadBalancer(ctx, "", web); exists || err != nil {
		t.Fatalf("GetLoadBalancer before ensure = %v, %v; want not existing", exists, err)
	}
	expectIP(t, ensure(t, lb, web), "10.0.0.1")
	if status, exists, err := lb.GetLoadBalancer(ctx, "", web); !exists || err != nil || status.Ingress[0].IP != "10.0.0.1" {
		t.Fatalf("GetLoadBalancer = %+v, %v, %v; want 10.0.0.1", status, exists, err)
	}
	for range 2 { // idempotent
		if err := lb.EnsureLoadBalancerDeleted(ctx, "", web); err != nil {
			t.Fatalf("EnsureLoadBalancerDeleted = %v", err)
		}
	}
	if _, exists, _ := lb.GetLoadBalancer(ctx, "", web); exists {
		t.Error("GetLoadBalancer after delete says it exists")
	}
	expectData(t, client, map[string]string{"10.0.0.6": ""})
}

// TestConcurrentEnsure runs many syncs at once, as --concurrent-service-syncs does, while
// another writer keeps conflicting: no address twice, no entry lost.
func TestConcurrentEnsure(t *testing.T) {
	lb, client := newTestLB(t, "10.0.0.0/24")
	var mu sync.Mutex
	writes := 0
	client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if writes++; writes%3 == 0 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, testConfigMap, errors.New("busy"))
		}
		return false, nil, nil
	})
	const n = 60
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, err := lb.EnsureLoadBalancer(context.Background(), "", newService(fmt.Sprintf("svc-%d", i)), nil)
			if err != nil {
				t.Errorf("EnsureLoadBalancer(svc-%d) = %v", i, err)
				return
			}
			got[i] = status.Ingress[0].IP
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	want := map[string]string{}
	for i, ip := range got {
		if _, dup := want[ip]; dup {
			t.Fatalf("address %s handed out twice", ip)
		}
		want[ip] = fmt.Sprintf("default/svc-%d", i)
	}
	expectData(t, client, want)
}

func expectIP(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("address = %s, want %s", got, want)
	}
}

func expectErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want one containing %q", err, want)
	}
}

func expectData(t *testing.T, client *fake.Clientset, want map[string]string) {
	t.Helper()
	if diff := cmp.Diff(want, data(t, client)); diff != "" {
		t.Errorf("ConfigMap data (-want +got):\n%s", diff)
	}
}

// TestEnsureSkipsKeyWrittenMeanwhile adds a key by hand after the provider last read the
// ConfigMap: the address it was about to hand out is left to its writer.
func TestEnsureSkipsKeyWrittenMeanwhile(t *testing.T) {
	lb, client := newTestLB(t, "10.0.0.0/29")
	expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1")
	cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), testConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["10.0.0.2"] = ""
	if _, err := client.CoreV1().ConfigMaps(testNamespace).Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectIP(t, ensure(t, lb, newService("b")), "10.0.0.3")
	expectData(t, client, map[string]string{"10.0.0.1": "default/a", "10.0.0.2": "", "10.0.0.3": "default/b"})
}
