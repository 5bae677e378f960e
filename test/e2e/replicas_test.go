package e2e

import (
	"context"
	"fmt"
	"path/filepath"
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
// things, then resumed (SIGCONT). The ConfigMap agrees with the Services' status again
// within 2 s of the resume, and stays so; the old leader exits within 10 s; and from the
// resume until it exits it made no write request at all to the ConfigMap or to Services
// (objects or status). The two replicas run with two tokens of the provider's
// ServiceAccount (same RBAC), which the API server's audit log tells apart by credential id.
// Half the Services are of our loadBalancerClass, so our class controller is fenced too.
func TestPausedLeader(t *testing.T) {
	leaderID, standbyID := newIdentity(t, "leader"), newIdentity(t, "standby")
	e := newEnv(t, config{pool: "10.210.225.0/24", kubeconfig: leaderID.Kubeconfig})
	auditFrom := e.auditOffset()
	started := time.Now()
	var names []string
	for i := 0; i < 10; i++ {
		names = append(names, fmt.Sprintf("s%d", i))
		e.createService(names[i], ofOurClassIf(i >= 5)) // half for our own class controller
	}
	e.waitAddressed(names, len(names))
	standby := e.startReplicaAs("standby", standbyID.Kubeconfig)
	old := e.p
	paused := time.Now()
	if err := syscall.Kill(old.PID(), syscall.SIGSTOP); err != nil {
		t.Fatalf("pausing the leader: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(old.PID(), syscall.SIGCONT) })
	e.takeOver(standby)
	tookOver := time.Now()
	for _, name := range names[:4] {
		e.deleteService(name)
	}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("new%d", i)
		e.createService(name, ofOurClassIf(i >= 3))
		e.waitIP(name)
	}
	e.waitConsistent(assignTimeout)
	resumed := time.Now()
	if err := syscall.Kill(old.PID(), syscall.SIGCONT); err != nil {
		t.Fatalf("resuming the old leader: %v", err)
	}
	e.waitConsistent(repairTimeout)
	t.Logf("consistent %s after the old leader resumed", time.Since(resumed).Round(time.Millisecond))

	// The old leader has lost its lease: it must notice and exit.
	exitCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := old.Wait(exitCtx)
	exited := time.Now()
	if err != nil {
		t.Errorf("step \"old leader exits\": it still runs 10 s after it resumed without its lease: %v", err)
	} else {
		t.Logf("the old leader exited (code %d) %s after it resumed", code, exited.Sub(resumed).Round(time.Millisecond))
	}
	e.waitConsistent(repairTimeout)

	// Count who wrote what, from the audit log.
	events := e.auditEvents(auditFrom)
	resumedWrites := writesBy(events, leaderID.CredentialID, resumed, exited)
	before := writesBy(events, leaderID.CredentialID, started, paused)
	standbyWrites := writesBy(events, standbyID.CredentialID, tookOver, resumed)
	t.Logf("write requests counted in the API server's audit log (%s, kept as %s after the run; policy: metadata "+
		"of every create/update/patch/delete of configmaps, services, services/status and leases), told apart by "+
		"the user.extra credential-id of each replica's token (leader %s, standby %s):",
		cp.AuditLogPath, auditLogCopy(), leaderID.CredentialID, standbyID.CredentialID)
	t.Logf("  old leader before the pause: %s", before)
	t.Logf("  new leader from takeover to the resume: %s", standbyWrites)
	t.Logf("  old leader from the resume (SIGCONT) until it exited (%s): %s; writes of shared state: %d",
		exited.Sub(resumed).Round(time.Millisecond), resumedWrites, resumedWrites.shared())
	if n := resumedWrites.shared(); n != 0 {
		t.Errorf("step \"old leader writes nothing once resumed\": it made %d write requests to the ConfigMap or to Services "+
			"between SIGCONT and its exit, want 0:\n%s", n, resumedWrites.sharedLines())
	}
	// The count is only evidence if the log attributes requests to each replica at all.
	if len(before.serviceStatus) == 0 || len(before.configMaps) == 0 {
		t.Errorf("step \"audit log attributes the old leader's writes\": no ConfigMap or Service status write by "+
			"credential %s before the pause (%s), yet it addressed %d Services: the count above proves nothing",
			leaderID.CredentialID, before, len(names))
	}
	if len(standbyWrites.serviceStatus) == 0 || len(standbyWrites.configMaps) == 0 {
		t.Errorf("step \"audit log attributes the new leader's writes\": no ConfigMap or Service status write by "+
			"credential %s after it took over (%s)", standbyID.CredentialID, standbyWrites)
	}
}

// startReplica starts a second provider with the test's settings; it waits for the lease.
func (e *env) startReplica(name string) *controlplane.Provider {
	e.t.Helper()
	return e.startReplicaAs(name, e.kubeconfig())
}

// startReplicaAs is startReplica with the identity of kubeconfig.
func (e *env) startReplicaAs(name, kubeconfig string) *controlplane.Provider {
	e.t.Helper()
	p, err := controlplane.StartProvider(controlplane.ProviderOptions{
		Binary:     providerBinary,
		Kubeconfig: kubeconfig,
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
		var ok bool
		diff, ok = e.consistent(ctx)
		return ok, nil
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
