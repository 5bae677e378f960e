package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

const (
	namespace  = "bench"
	configMap  = "vip-configmap"
	cmNS       = "kube-system"
	leaseName  = "keepalived-cloud-provider"
	finalizer  = "service.kubernetes.io/load-balancer-cleanup"
	poolCIDR   = "10.100.0.0/16,10.101.0.0/16"
	waitLimit  = 15 * time.Minute
	pollPeriod = 100 * time.Millisecond
)

type bench struct {
	ctx      context.Context
	cp       *controlplane.ControlPlane
	c        kubernetes.Interface // admin, without client-side rate limits
	ours     subject
	null     subject
	out      string
	workers  int
	verbose  bool
	args     []string // extra flags for both providers
	provider *controlplane.Provider
	round    int
	watch    *watcher
}

func newBench(ctx context.Context, cp *controlplane.ControlPlane, ours, null subject, out string, k knobs) (*bench, error) {
	cfg := *cp.Admin
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if err := addReadyNode(ctx, c); err != nil {
		return nil, err
	}
	return &bench{ctx: ctx, cp: cp, c: c, ours: ours, null: null, out: out,
		workers: k.workers, verbose: k.verbose, args: k.providerArgs, watch: startWatcher(ctx, c)}, nil
}

// addReadyNode registers one Ready Node, as every real cluster has: without one the
// service controller adds a "no available nodes" Warning event to every sync.
func addReadyNode(ctx context.Context, c kubernetes.Interface) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bench-node"}}
	node, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	_, err = c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// startProvider starts s with the shipped defaults, as the provider's ServiceAccount,
// and waits until it leads. Both subjects get the same flags and identity.
func (b *bench) startProvider(s subject) error {
	b.round++
	_ = b.c.CoordinationV1().Leases(cmNS).Delete(b.ctx, leaseName, metav1.DeleteOptions{})
	p, err := controlplane.StartProvider(controlplane.ProviderOptions{
		Binary: s.binary, Kubeconfig: b.cp.ProviderKubeconfig,
		LogPath: filepath.Join(b.out, fmt.Sprintf("%s-%d.log", s.name, b.round)),
		Env:     s.env,
		Args:    b.args,
	})
	if err != nil {
		return err
	}
	b.provider = p
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	return p.WaitLeading(ctx)
}

func (b *bench) stopProvider() {
	if b.provider != nil && b.provider.Running() {
		_ = b.provider.Stop(10 * time.Second)
	}
	b.provider = nil
}

// names returns n Service names of one phase.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return out
}

func service(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80}},
			// No NodePorts: with ipMode VIP nothing needs them, and their range
			// (2,768 ports) would cap the benchmark below 3,000 Services.
			AllocateLoadBalancerNodePorts: ptr.To(false),
		},
	}
}

// parallel runs do for every name on b.workers goroutines and returns when each has
// started (start[i]) and finished.
func (b *bench) parallel(items []string, do func(ctx context.Context, name string) error) ([]time.Time, error) {
	start := make([]time.Time, len(items))
	next := make(chan int)
	errs := make(chan error, b.workers)
	var wg sync.WaitGroup
	for w := 0; w < b.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start[i] = time.Now()
				if err := do(b.ctx, items[i]); err != nil {
					select {
					case errs <- fmt.Errorf("%s: %w", items[i], err):
					default:
					}
				}
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return start, err
	default:
		return start, nil
	}
}

func (b *bench) create(ctx context.Context, name string) error {
	_, err := b.c.CoreV1().Services(namespace).Create(ctx, service(name), metav1.CreateOptions{})
	return err
}

func (b *bench) delete(ctx context.Context, name string) error {
	err := b.c.CoreV1().Services(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// floorCreate is what the service controller asks of the API server per Service,
// done by the bench alone: create, add the finalizer, patch the status.
func (b *bench) floorCreate(ctx context.Context, name string) error {
	api := b.c.CoreV1().Services(namespace)
	if err := b.create(ctx, name); err != nil {
		return err
	}
	fin, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": []string{finalizer}}})
	if _, err := api.Patch(ctx, name, types.MergePatchType, fin, metav1.PatchOptions{}); err != nil {
		return err
	}
	st := []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1","ipMode":"VIP"}]}}}`)
	_, err := api.Patch(ctx, name, types.MergePatchType, st, metav1.PatchOptions{}, "status")
	return err
}

// floorDelete is what deleting asks of the API server per Service, done by the bench
// alone: the delete, then (as the service controller does) clearing the status and
// removing the finalizer.
func (b *bench) floorDelete(ctx context.Context, name string) error {
	api := b.c.CoreV1().Services(namespace)
	if err := b.delete(ctx, name); err != nil {
		return err
	}
	_, err := api.Patch(ctx, name, types.MergePatchType, []byte(`{"status":{"loadBalancer":{"ingress":null}}}`), metav1.PatchOptions{}, "status")
	if err == nil {
		_, err = api.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// waitAll waits until cond holds for every name, recording when the watch first
// showed it; it returns those times.
func (b *bench) waitAll(items []string, cond func(*corev1.Service, bool) bool) (map[string]time.Time, error) {
	seen := map[string]time.Time{}
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	for {
		for _, name := range items {
			if _, done := seen[name]; done {
				continue
			}
			svc, exists := b.watch.get(name)
			if cond(svc, exists) {
				seen[name] = b.watch.changedAt(name)
			}
		}
		if len(seen) == len(items) {
			return seen, nil
		}
		select {
		case <-ctx.Done():
			return seen, fmt.Errorf("%d of %d Services reached the state: %w", len(seen), len(items), ctx.Err())
		case <-time.After(pollPeriod):
		}
	}
}

func addressed(svc *corev1.Service, exists bool) bool {
	return exists && len(svc.Status.LoadBalancer.Ingress) > 0
}

func gone(_ *corev1.Service, exists bool) bool { return !exists }

// procStats reads a process's CPU seconds and peak RSS from /proc.
func procStats(pid int) (cpu time.Duration, peakRSS int64) {
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				peakRSS = kb << 10
			}
		}
	}
	return cpu, peakRSS
}
