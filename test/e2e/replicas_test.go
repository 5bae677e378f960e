package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestLeaderKilledMidBurst: two replicas; the leader is SIGKILLed while a burst of 200
// Services is being addressed. The standby takes over: every Service gets an address,
// no address is handed out twice, none that was reported moves, and the ConfigMap
// carries exactly the addresses in the Services' status.
func TestLeaderKilledMidBurst(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.224.0/24"})
	standby := e.startReplica("standby")
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("s%03d", i)
	}
	var wg sync.WaitGroup
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(names); i += 10 {
				e.createService(names[i])
			}
		}(w)
	}
	before := e.waitAddressed(names, 50)
	e.killProvider()
	killed := time.Now()
	wg.Wait()
	e.takeOver(standby)
	t.Logf("standby leads %s after the leader was killed (lease duration 4s)", time.Since(killed).Round(100*time.Millisecond))
	after := e.waitAddressed(names, len(names))
	t.Logf("all %d Services addressed %s after the leader was killed", len(names), time.Since(killed).Round(100*time.Millisecond))
	for name, ip := range before {
		if after[name] != ip {
			t.Errorf("%s moved from %s to %s across the failover", name, ip, after[name])
		}
	}
	e.waitConsistent(assignTimeout)
}

// TestPausedLeader: the leader is frozen (SIGSTOP) until the standby leads and changes
// things, then resumed (SIGCONT). Whatever the old leader writes from its stale memory,
// the ConfigMap agrees with the Services' status again within 2 s of the resume, and
// stays so.
func TestPausedLeader(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.225.0/24"})
	var names []string
	for i := 0; i < 10; i++ {
		names = append(names, fmt.Sprintf("s%d", i))
		e.createService(names[i])
	}
	e.waitAddressed(names, len(names))
	standby := e.startReplica("standby")
	old := e.p
	if err := syscall.Kill(old.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(old.PID(), syscall.SIGCONT) })
	e.takeOver(standby)
	for _, name := range names[:4] {
		e.deleteService(name)
	}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("new%d", i)
		e.createService(name)
		e.waitIP(name)
	}
	e.waitConsistent(assignTimeout)
	if err := syscall.Kill(old.PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	e.waitConsistent(repairTimeout)
	t.Logf("consistent %s after the old leader resumed", time.Since(resumed).Round(time.Millisecond))
	time.Sleep(4 * time.Second) // the old leader's renew deadline is 3 s
	e.waitConsistent(repairTimeout)
	if old.Running() {
		t.Errorf("the old leader still runs 4 s after it resumed without its lease")
	}
}

// startReplica starts a second provider with the test's settings; it waits for the lease.
func (e *env) startReplica(name string) *controlplane.Provider {
	e.t.Helper()
	p, err := controlplane.StartProvider(controlplane.ProviderOptions{
		Binary:     providerBinary,
		Kubeconfig: cp.ProviderKubeconfig,
		LogPath:    filepath.Join(outputDir, e.ns, name+".log"),
		Env:        e.providerEnv(),
		Args:       append([]string{"--keepalived-config-map=" + e.cm}, e.cfg.args...),
	})
	if err != nil {
		e.t.Fatalf("starting replica %s: %v", name, err)
	}
	providers.add(p)
	e.t.Cleanup(func() {
		_ = p.Stop(10 * time.Second)
		providers.remove(p)
	})
	return p
}

// takeOver waits until replica leads and makes it the test's provider.
func (e *env) takeOver(replica *controlplane.Provider) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := replica.WaitLeading(ctx); err != nil {
		e.t.Fatalf("the standby never led: %v\n%s", err, replica.Tail(40))
	}
	old := e.p
	e.p = replica
	e.t.Cleanup(func() {
		_ = old.Stop(5 * time.Second)
		providers.remove(old)
	})
}

// waitAddressed waits until at least n of the Services have an address and returns
// every address seen, checking that no two Services report the same one.
func (e *env) waitAddressed(names []string, n int) map[string]string {
	e.t.Helper()
	var ips map[string]string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		ips = e.statusAddresses(ctx)
		got := 0
		for _, name := range names {
			if ips[name] != "" {
				got++
			}
		}
		return got >= n, nil
	})
	if err != nil {
		e.t.Fatalf("waiting for %d of %d Services to have an address: %v (have %d)", n, len(names), err, len(ips))
	}
	return ips
}

// statusAddresses maps each Service of the test to its address, failing on duplicates.
func (e *env) statusAddresses(ctx context.Context) map[string]string {
	e.t.Helper()
	list, err := e.c.CoreV1().Services(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	ips, holders := map[string]string{}, map[string]string{}
	for i := range list.Items {
		s := &list.Items[i]
		ip := controlplane.IngressIP(s)
		if ip == "" || s.DeletionTimestamp != nil {
			continue
		}
		if other, dup := holders[ip]; dup {
			e.t.Fatalf("%s and %s both report %s", other, s.Name, ip)
		}
		ips[s.Name], holders[ip] = ip, s.Name
	}
	return ips
}

// waitConsistent waits until the ConfigMap carries exactly the test's Services'
// addresses, each listed as the provider's.
func (e *env) waitConsistent(timeout time.Duration) {
	e.t.Helper()
	var diff string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		want := map[string]string{}
		for name, ip := range e.statusAddresses(ctx) {
			want[ip] = e.key(name)
		}
		cm, err := e.c.CoreV1().ConfigMaps(configMapNamespace).Get(ctx, e.cm, metav1.GetOptions{})
		if err != nil {
			diff = err.Error()
			return false, nil
		}
		got := map[string]string{}
		for k, v := range cm.Data {
			if strings.HasPrefix(v, e.ns+"/") {
				got[k] = v
			}
		}
		owned := ownedKeysSorted(cm)
		keys := slices.Sorted(maps.Keys(want))
		diff = fmt.Sprintf("ConfigMap entries %v, owned %v; statuses say %v", got, owned, want)
		return maps.Equal(got, want) && slices.Equal(owned, keys), nil
	})
	if err != nil {
		e.t.Fatalf("ConfigMap and Services' status disagree after %s: %s", timeout, diff)
	}
}

// TestKilledRepeatedlyUnderChurn: the provider is SIGKILLed five times while Services are
// being created and deleted. Afterwards nothing moved (Services that had an address keep
// it), nothing is orphaned (no entry outlives its Service) and every Service has an
// address that no other Service has.
func TestKilledRepeatedlyUnderChurn(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.226.0/24"})
	var keep []string
	for i := 0; i < 20; i++ {
		keep = append(keep, fmt.Sprintf("keep%02d", i))
		e.createService(keep[i])
	}
	before := e.waitAddressed(keep, len(keep))

	ctx, stop := context.WithCancel(context.Background())
	churned := make(chan int)
	go func() { churned <- e.churn(ctx) }()
	for k := 0; k < 5; k++ {
		time.Sleep(1500 * time.Millisecond)
		e.killProvider()
		e.startProvider() // waits for the killed process's lease to run out
	}
	stop()
	t.Logf("%d Services created and deleted around five kills", <-churned)

	list, err := e.c.CoreV1().Services(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, s := range list.Items {
		if s.DeletionTimestamp == nil {
			live = append(live, s.Name)
		}
	}
	e.waitAddressed(live, len(live))
	e.waitConsistent(assignTimeout)
	after := e.statusAddresses(context.Background())
	for name, ip := range before {
		if after[name] != ip {
			t.Errorf("%s moved from %s to %s", name, ip, after[name])
		}
	}
}

// churn creates a Service every 100 ms and deletes the one created five before,
// until ctx ends; it returns how many it created.
func (e *env) churn(ctx context.Context) int {
	api := e.c.CoreV1().Services(e.ns)
	n := 0
	for ; ctx.Err() == nil; n++ {
		_, _ = api.Create(ctx, newService(e.ns, fmt.Sprintf("churn%03d", n)), metav1.CreateOptions{})
		if n >= 5 {
			_ = api.Delete(ctx, fmt.Sprintf("churn%03d", n-5), metav1.DeleteOptions{})
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}

// TestAPIServerRestartMidBurst: kube-apiserver restarts while a burst of Services is
// being created. The provider carries on without a restart of its own: every Service
// gets an address, none twice, and the ConfigMap agrees with the statuses.
func TestAPIServerRestartMidBurst(t *testing.T) {
	// Upstream lease timings: the outage (kube-apiserver killed, restarted a second
	// later) is shorter than the renew deadline. Past it, the upstream leader elector
	// exits the process by design, and a restarted pod rebuilds everything (TestRestart).
	e := newEnv(t, config{pool: "10.210.227.0/24", args: []string{
		"--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s",
	}})
	pid := e.p.PID()
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("s%03d", i)
	}
	created := make(chan struct{})
	go func() {
		defer close(created)
		for _, name := range names {
			e.createRetrying(name)
		}
	}()
	e.waitAddressed(names, 20)
	start := time.Now()
	if err := cp.RestartAPIServer(time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver back after %s", time.Since(start).Round(100*time.Millisecond))
	<-created
	if list, err := e.c.CoreV1().Services(e.ns).List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatalf("listing Services after the restart: %v", err)
	} else {
		t.Logf("%d Services after the restart", len(list.Items))
	}
	e.waitAddressed(names, len(names))
	e.assertSameProcess(pid)
	e.waitConsistent(assignTimeout)
}

// createRetrying creates the Service, retrying while the API server is away.
func (e *env) createRetrying(name string) {
	_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e.c.CoreV1().Services(e.ns).Create(ctx, newService(e.ns, name), metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), nil
	})
}
