package provider

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cloud-provider/api"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

const teamPools = `
pools:
  - name: team-a
    addresses: [10.1.0.0/30]
    namespaces: [a]
  - name: shared
    addresses: [10.2.0.1-10.2.0.3]
  - name: manual
    addresses: [10.3.0.0/29]
    autoAssign: false
reserved: [10.2.0.2]
`

func mustPools(t *testing.T, yaml string) *poolconfig.Config {
	t.Helper()
	cfg, _, err := poolconfig.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("pools file: %v", err)
	}
	return cfg
}

func inNamespace(ns string) serviceOption { return func(s *corev1.Service) { s.Namespace = ns } }

func TestPoolChoice(t *testing.T) {
	lb, _ := newTestLBWithPools(t, mustPools(t, teamPools))
	pool := func(name string) serviceOption { return annotated(poolconfig.PoolAnnotation, name) }

	expectIP(t, ensure(t, lb, newService("a1", inNamespace("a"))), "10.1.0.1")
	expectIP(t, ensure(t, lb, newService("a2", inNamespace("a"))), "10.1.0.2")
	expectIP(t, ensure(t, lb, newService("a3", inNamespace("a"))), "10.2.0.1") // own pool full: shared next
	expectIP(t, ensure(t, lb, newService("b1", inNamespace("b"))), "10.2.0.3") // .2 is reserved
	expectIP(t, ensure(t, lb, newService("m1", inNamespace("b"), pool("manual"))), "10.3.0.1")
	expectIP(t, ensure(t, lb, newService("m2", inNamespace("b"), specIP("10.3.0.5"))), "10.3.0.5")

	expectErr(t, ensureErr(t, lb, newService("b2", inNamespace("b"))), `pool "shared": no free address in 10.2.0.1/32, 10.2.0.3/32 (2 of 2 in use)`)
	expectErr(t, ensureErr(t, lb, newService("b3", inNamespace("b"), pool("team-a"))), `"team-a", which serves namespaces [a] only`)
	expectErr(t, ensureErr(t, lb, newService("b4", inNamespace("b"), specIP("10.1.0.1"))), `requested address 10.1.0.1: address 10.1.0.1 is in pool "team-a"`)
	expectErr(t, ensureErr(t, lb, newService("b5", inNamespace("b"), specIP("10.2.0.2"))), "is reserved")
	expectErr(t, ensureErr(t, lb, newService("b6", inNamespace("b"), pool("gold"))), `names pool "gold", which does not exist`)
	expectIP(t, ensure(t, lb, newService("b7", inNamespace("b"), specIP("192.168.9.9"))), "192.168.9.9") // outside every pool
}

func TestSetPoolsKeepsAddresses(t *testing.T) {
	lb, client := newTestLBWithPools(t, mustPools(t, "pools: [{name: p, addresses: [10.0.0.1-10.0.0.2]}]"))
	expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1")
	expectIP(t, ensure(t, lb, newService("b")), "10.0.0.2")
	expectErr(t, ensureErr(t, lb, newService("c")), "no free address")

	lb.SetPools(context.Background(), mustPools(t, "pools: [{name: p, addresses: [10.0.0.2-10.0.0.3]}]"))
	expectIP(t, ensure(t, lb, newService("c")), "10.0.0.3") // grown: the pending Service is served
	expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1") // out of every pool now, kept
	expectErr(t, ensureErr(t, lb, newService("d")), `pool "p": no free address in 10.0.0.2/31 (2 of 2 in use)`)
	cm, err := client.CoreV1().ConfigMaps(testNamespace).Get(context.Background(), testConfigMap, metav1.GetOptions{})
	if err != nil || cm.Annotations[vipconfig.UsageAnnotation] != "p: 2 of 2 in use" {
		t.Errorf("usage annotation = %q, %v; want %q", cm.Annotations[vipconfig.UsageAnnotation], err, "p: 2 of 2 in use")
	}
	m := lb.metrics
	expectValue(t, "keepalived_addresses_outside_pools", gauge(t, m.outsidePools), 1)
	expectValue(t, "keepalived_pool_addresses{pool=p}", gauge(t, m.poolSize.WithLabelValues("p")), 2)
	expectValue(t, "keepalived_pool_addresses_in_use{pool=p}", gauge(t, m.poolInUse.WithLabelValues("p")), 2)
	expectValue(t, "keepalived_pool_allocation_failures_total{pool=p,reason=exhausted}", counter(t, m.failures.WithLabelValues("p", reasonExhausted)), 2)
}

// TestWatchPoolsFile edits the file: valid edits apply, an invalid one keeps the pools.
func TestWatchPoolsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pools.yaml")
	write := func(content string) {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pools: [{name: p, addresses: [10.0.0.1/32]}]")
	lb, _ := newTestLBWithPools(t, mustPools(t, "pools: [{name: p, addresses: [10.0.0.1/32]}]"))
	stop := make(chan struct{})
	defer close(stop)
	go lb.watchPoolsFile(path, 10*time.Millisecond, stop)
	expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1")

	write("pools: [{name: p, adresses: [10.0.0.0/24]}]")
	// A poll may also catch the file half-written: count at least one refusal.
	eventually(t, func() bool { return counter(t, lb.metrics.reloadFailures) >= 1 })
	expectErr(t, ensureErr(t, lb, newService("b")), "no free address")

	write("pools: [{name: p, addresses: [10.0.0.1-10.0.0.2]}]")
	eventually(t, func() bool {
		_, err := lb.EnsureLoadBalancer(context.Background(), "", newService("b"), nil)
		return err == nil
	})
}

func eventually(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

func gauge(t *testing.T, g metrics.GaugeMetric) float64 {
	t.Helper()
	v, err := testutil.GetGaugeMetricValue(g)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func counter(t *testing.T, c metrics.CounterMetric) float64 {
	t.Helper()
	v, err := testutil.GetCounterMetricValue(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func expectValue(t *testing.T, name string, got, want float64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// TestRefusedRequestHoldsNothing: a Service asking for an address its pools do not allow
// must not keep that address from the Services that may have it, whether the request is
// seen by the informer or by a sync.
func TestRefusedRequestHoldsNothing(t *testing.T) {
	lb, _ := newTestLBWithPools(t, mustPools(t, teamPools))
	expectIP(t, ensure(t, lb, newService("a0", inNamespace("a"))), "10.1.0.1") // restores the state
	intruder := newService("b", inNamespace("b"), specIP("10.1.0.2"))
	lb.observe(intruder, false)
	expectIP(t, ensure(t, lb, newService("a1", inNamespace("a"))), "10.1.0.2")

	lb, _ = newTestLBWithPools(t, mustPools(t, teamPools))
	err := ensureErr(t, lb, intruder)
	expectErr(t, err, `is in pool "team-a", which serves namespaces [a] only`)
	var retry *api.RetryError
	if !errors.As(err, &retry) || retry.RetryAfter() != allocationRetry {
		t.Errorf("refusal %v is not retried after %v", err, allocationRetry)
	}
	expectIP(t, ensure(t, lb, newService("a1", inNamespace("a"))), "10.1.0.1")
	expectIP(t, ensure(t, lb, newService("a2", inNamespace("a"))), "10.1.0.2")
}

// TestWatchAppliesFileAtFirstPoll: the file may have changed while this instance waited
// to lead, so the first poll applies it even though it was read at start.
func TestWatchAppliesFileAtFirstPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pools.yaml")
	if err := os.WriteFile(path, []byte("pools: [{name: p, addresses: [10.0.0.1-10.0.0.2]}]"), 0o644); err != nil {
		t.Fatal(err)
	}
	lb, _ := newTestLBWithPools(t, mustPools(t, "pools: [{name: p, addresses: [10.0.0.1/32]}]"))
	expectIP(t, ensure(t, lb, newService("a")), "10.0.0.1")
	stop := make(chan struct{})
	defer close(stop)
	go lb.watchPoolsFile(path, time.Hour, stop)
	eventually(t, func() bool {
		_, err := lb.EnsureLoadBalancer(context.Background(), "", newService("b"), nil)
		return err == nil
	})
}
