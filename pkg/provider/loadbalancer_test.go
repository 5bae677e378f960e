package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	restclient "k8s.io/client-go/rest"
	"k8s.io/component-base/metrics"

	"github.com/munnerz/keepalived-cloud-provider/pkg/fencing"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// clients hands the fake clientset to Initialize.
type clients struct{ kubernetes.Interface }

func (c clients) Config(string) (*restclient.Config, error)   { return &restclient.Config{}, nil }
func (c clients) ConfigOrDie(string) *restclient.Config       { return &restclient.Config{} }
func (c clients) Client(string) (kubernetes.Interface, error) { return c.Interface, nil }
func (c clients) ClientOrDie(string) kubernetes.Interface     { return c.Interface }

// startCloud runs the provider as the controller manager would, on a fake clientset.
func startCloud(t *testing.T, pool string, objs ...*corev1.Service) (*LoadBalancer, *fake.Clientset) {
	t.Helper()
	return startFencedCloud(t, pool, nil, objs...)
}

// startFencedCloud is startCloud behind fence (nil: leader election off).
func startFencedCloud(t *testing.T, pool string, fence *fencing.Fence, objs ...*corev1.Service) (*LoadBalancer, *fake.Clientset) {
	t.Helper()
	pools, _, err := poolconfig.FromCIDR(pool)
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
	cloud := NewCloud(Config{Pools: pools, Namespace: "kube-system", ConfigMap: "vip-configmap", DefaultMethod: vipconfig.NAT},
		NewMetrics(metrics.NewKubeRegistry().MustRegister), fence)
	cloud.Initialize(clients{client}, stop)
	factory := informers.NewSharedInformerFactory(client, 0)
	cloud.SetInformers(factory)
	factory.Start(stop)
	lb, _ := cloud.LoadBalancer()
	return lb.(*LoadBalancer), client
}

func lbService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
}

func configMapData(t *testing.T, client *fake.Clientset) map[string]string {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "vip-configmap", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

// TestEnsureAndDelete: the address returned is in the ConfigMap when Ensure returns,
// and gone from it when EnsureLoadBalancerDeleted returns.
func TestEnsureAndDelete(t *testing.T) {
	svc := lbService("web")
	lb, client := startCloud(t, "10.0.0.0/29", svc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, err := lb.EnsureLoadBalancer(ctx, "", svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ip := status.Ingress[0].IP; ip != "10.0.0.1" || configMapData(t, client)[ip] != "default/web" {
		t.Fatalf("status %v, ConfigMap %v; want 10.0.0.1 published", status.Ingress, configMapData(t, client))
	}
	if _, exists, _ := lb.GetLoadBalancer(ctx, "", svc); !exists {
		t.Error("GetLoadBalancer says the load balancer does not exist")
	}
	if err := lb.EnsureLoadBalancerDeleted(ctx, "", svc); err != nil {
		t.Fatal(err)
	}
	if data := configMapData(t, client); len(data) != 0 {
		t.Errorf("ConfigMap %v after delete, want empty", data)
	}
	if _, exists, _ := lb.GetLoadBalancer(ctx, "", svc); exists {
		t.Error("GetLoadBalancer says the deleted load balancer exists")
	}
}

// TestConcurrentEnsure: parallel syncs (--concurrent-service-syncs) never hand out an
// address twice, and share ConfigMap writes.
func TestConcurrentEnsure(t *testing.T) {
	var services []*corev1.Service
	for i := 0; i < 60; i++ {
		services = append(services, lbService(fmt.Sprintf("s%02d", i)))
	}
	lb, client := startCloud(t, "10.0.0.0/24", services...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	holders := map[string]string{}
	var wg sync.WaitGroup
	for _, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := lb.EnsureLoadBalancer(ctx, "", svc, nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ip := status.Ingress[0].IP
			if other, dup := holders[ip]; dup {
				t.Errorf("%s given to %s and %s", ip, other, svc.Name)
			}
			holders[ip] = svc.Name
		}()
	}
	wg.Wait()
	if data := configMapData(t, client); len(data) != len(services) {
		t.Errorf("ConfigMap has %d entries, want %d", len(data), len(services))
	}
	writes := 0
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "configmaps" && (a.GetVerb() == "update" || a.GetVerb() == "create") {
			writes++
		}
	}
	t.Logf("%d Services, %d ConfigMap writes", len(services), writes)
	if writes >= len(services) {
		t.Errorf("%d ConfigMap writes for %d Services: writes are not shared", writes, len(services))
	}
}

// renew makes fence see one successful renewal of its lease, as the leader elector's
// write through the fenced transport would.
func renew(t *testing.T, fence *fencing.Fence) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	c := &http.Client{Transport: fence.Wrap(http.DefaultTransport)}
	req, err := http.NewRequest(http.MethodPut, srv.URL+"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
}

// configMapWrites counts the creates and updates of ConfigMaps the fake has seen.
func configMapWrites(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "configmaps" && (a.GetVerb() == "create" || a.GetVerb() == "update") {
			n++
		}
	}
	return n
}

// TestFencedProvider: while the lease is not certainly held (never renewed, or
// renewed longer ago than the renew deadline, as after a pause) every method refuses
// success and the ConfigMap is not written; right after a renewal all is normal.
func TestFencedProvider(t *testing.T) {
	const renewDeadline = 300 * time.Millisecond
	fence := fencing.New("kube-system", "kcp", renewDeadline)
	first, second := lbService("first"), lbService("second")
	lb, client := startFencedCloud(t, "10.0.0.0/29", fence, first, second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := lb.EnsureLoadBalancer(ctx, "", first, nil); !errors.Is(err, fencing.ErrNotLeading) && (err == nil || !strings.Contains(err.Error(), fencing.ErrNotLeading.Error())) {
		t.Fatalf("never renewed: Ensure = %v, want a refusal naming %q", err, fencing.ErrNotLeading)
	}
	if n := configMapWrites(client); n != 0 {
		t.Fatalf("never renewed: %d ConfigMap writes, want 0", n)
	}

	// The writer retries its refused write within a second of the renewal; until
	// then a sync of the same change hears the refusal again.
	renew(t, fence)
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := lb.EnsureLoadBalancer(ctx, "", first, nil)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("just renewed: Ensure never succeeded: %v", err)
	}
	before := configMapWrites(client)

	time.Sleep(renewDeadline) // a pause: the renewal is now too old
	for name, call := range map[string]func() error{
		"Ensure":        func() error { _, err := lb.EnsureLoadBalancer(ctx, "", second, nil); return err },
		"EnsureDeleted": func() error { return lb.EnsureLoadBalancerDeleted(ctx, "", first) },
		"Get":           func() error { _, _, err := lb.GetLoadBalancer(ctx, "", first); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), fencing.ErrNotLeading.Error()) {
			t.Errorf("renewal too old: %s = %v, want a refusal naming %q", name, err, fencing.ErrNotLeading)
		}
	}
	if n := configMapWrites(client); n != before {
		t.Errorf("renewal too old: %d ConfigMap writes, want none after the pause", n-before)
	}
}
