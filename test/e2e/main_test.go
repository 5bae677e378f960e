// Package e2e runs the keepalived-cloud-provider binary, under the ServiceAccount and RBAC
// of manifests/, against a real kube-apiserver and etcd, and checks what it does through
// the API: Service status, the kube-keepalived-vip ConfigMap and events.
//
// One control plane serves the whole test binary. Tests run one after another, each with
// its own namespace and its own provider process (the service controller handles every
// LoadBalancer Service in the cluster, so two providers at once would fight), and they
// delete their Services before their provider stops.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// serviceCIDRs are the API server's --service-cluster-ip-range: both families.
const serviceCIDRs = "10.96.0.0/16,fd00:96::/108"

// providerVersion is what the e2e build of the binary reports with --version.
const providerVersion = "v0.0.0-e2e"

// envProviderBinary names a provider binary to test instead of building this tree (for
// instance a build of another commit, to compare); it must report providerVersion.
const envProviderBinary = "E2E_PROVIDER_BINARY"

var (
	cp             *controlplane.ControlPlane
	repoRoot       string
	providerBinary string
	// outputDir (<repo>/_output/e2e, git-ignored) keeps the logs of the last run.
	outputDir string
	// providers lists the provider processes alive, so an interrupted run can stop them.
	providers = &processSet{m: map[*controlplane.Provider]bool{}}
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	if repoRoot, err = controlplane.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	outputDir = filepath.Join(repoRoot, "_output", "e2e")
	unlock, err := lockTree(outputDir + ".lock")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer unlock()
	if err := os.RemoveAll(outputDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := os.MkdirAll(outputDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}

	start := time.Now()
	// Builds kube-apiserver, kubectl and etcd when missing (minutes when cold).
	if err := controlplane.EnsureBinaries(ctx, repoRoot, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if providerBinary = os.Getenv(envProviderBinary); providerBinary != "" {
		fmt.Fprintf(os.Stderr, "e2e: testing the provider binary %s (%s), not a build of this tree\n", providerBinary, envProviderBinary)
	} else {
		providerBinary = filepath.Join(repoRoot, "bin", "e2e", "keepalived-cloud-provider")
		if err := controlplane.BuildProvider(ctx, repoRoot, providerBinary, providerVersion); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	cpLog, err := os.Create(filepath.Join(outputDir, "controlplane.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = cpLog.Close() }()
	cp, err = controlplane.Start(ctx, controlplane.Options{
		Root: repoRoot, Log: cpLog, ManifestsWait: 10 * time.Minute,
		// Writes of ConfigMaps, Services and Leases only (controlplane.AuditPolicy): tests
		// count who wrote what (TestPausedLeader). Kept in outputDir at the end.
		Audit: true,
		// A dual-stack cluster, IPv4 first: Services that name no policy stay SingleStack
		// IPv4, as on a single-stack cluster; the dual-stack tests ask for more.
		APIServerFlags: map[string]string{"service-cluster-ip-range": serviceCIDRs},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting the control plane: %v\n(its output: %s)\n", err, cpLog.Name())
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: control plane at %s ready in %s; logs in %s\n",
		cp.Admin.Host, time.Since(start).Round(100*time.Millisecond), outputDir)

	var once sync.Once
	stopAll := func() {
		once.Do(func() {
			providers.killAll()
			if err := cp.CopyAuditLog(auditLogCopy()); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: keeping the audit log:", err)
			}
			if err := cp.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: stopping the control plane:", err)
			}
		})
	}
	defer stopAll()
	stopOnSignal(stopAll)
	stopBeforeTimeout(stopAll)
	return m.Run()
}

// auditLogCopy is where the API server's audit log is kept after the run.
func auditLogCopy() string { return filepath.Join(outputDir, "audit.log") }

// stopOnSignal stops every process on Ctrl-C or SIGTERM before exiting.
func stopOnSignal(stopAll func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the provider and the control plane\n", sig)
		stopAll()
		os.Exit(2)
	}()
}

// stopBeforeTimeout stops every process shortly before go test's -timeout would kill the
// test binary (which runs no deferred cleanup), after printing where each goroutine is.
func stopBeforeTimeout(stopAll func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	timeout, _ := f.Value.(flag.Getter).Get().(time.Duration)
	if timeout <= 30*time.Second {
		return
	}
	time.AfterFunc(timeout-20*time.Second, func() {
		fmt.Fprintf(os.Stderr, "e2e: tests still running after %s; stopping processes before the timeout\n", timeout-20*time.Second)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		stopAll()
		os.Exit(3)
	})
}

type processSet struct {
	mu sync.Mutex
	m  map[*controlplane.Provider]bool
}

func (s *processSet) add(p *controlplane.Provider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[p] = true
}

func (s *processSet) remove(p *controlplane.Provider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, p)
}

func (s *processSet) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.m {
		_ = p.Kill()
	}
}

// lockTree keeps a second e2e run in this tree from starting: it would delete this run's
// logs and rebuild its provider binary under it. The kernel drops the lock with the process.
func lockTree(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		return nil, fmt.Errorf("another e2e run in this tree holds %s (pid %s): wait for it to end; two runs at once would delete each other's logs and binary", path, strings.TrimSpace(string(holder)))
	}
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() { _ = f.Close() }, nil
}
