package node

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

const (
	systemNS = "kube-system"
	testNS   = "node-test"
	// The shipped workloads (manifests/ and manifests/agent/).
	providerName = "keepalived-cloud-provider"
	agentName    = "keepalived-vip-agent"
	nameLabel    = "app.kubernetes.io/name"
)

// cluster is one real node and its control plane, all state under dir.
type cluster struct {
	root, dir, logDir, node string
	td                      *teardown
	cp                      *controlplane.ControlPlane
	c                       kubernetes.Interface
	ctrd                    *containerd
	comps                   nodeComponents
	apiPort                 int
	// logs collects `kubectl logs` of pods before they go (see logs_test.go).
	logs *podLogs
}

func TestNode(t *testing.T) {
	requirePrerequisites(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cl := setUp(ctx, t)

	start := time.Now()
	cl.install(ctx, t, "kubectl apply -k (test overlays of manifests/ with components/node-init, and of manifests/agent/)", cl.applyKustomize)
	cl.checkNodeInitialised(ctx, t)
	cl.checkProviders(ctx, t)
	cl.checkSecurityContexts(ctx, t)
	cl.checkServiceVIP(ctx, t)
	cl.checkLiveness(ctx, t)
	cl.failOverProvider(ctx, t)
	cl.rollAgent(ctx, t)
	cl.checkLogs(ctx, t)
	cl.checkNoRestarts(ctx, t)
	cl.uninstall(ctx, t, "kubectl delete -k", cl.deleteKustomize)
	report("kustomize: install, scenarios and uninstall in %s", since(start))

	if !cl.hasChart() {
		t.Errorf("no chart at %s: the helm install variant did not run", cl.chartDir())
		return
	}
	start = time.Now()
	cl.install(ctx, t, "helm install (charts/keepalived-cloud-provider, test values)", cl.helmInstall)
	cl.checkProviders(ctx, t)
	cl.checkSecurityContexts(ctx, t)
	cl.checkServiceVIP(ctx, t)
	cl.checkLiveness(ctx, t)
	cl.checkLogs(ctx, t)
	cl.checkNoRestarts(ctx, t)
	cl.uninstall(ctx, t, "helm uninstall", cl.helmUninstall)
	report("helm: install, scenarios and uninstall in %s", since(start))
}

func report(format string, args ...any) {
	fmt.Printf("node: "+format+"\n", args...)
}

func since(t0 time.Time) time.Duration { return time.Since(t0).Round(10 * time.Millisecond) }

// setUp builds what is missing, then starts the host network, the control plane,
// containerd (with the images imported), kube-controller-manager, kube-scheduler and
// kubelet, and waits for the Node to be Ready. The tear-down is registered step by step.
func setUp(ctx context.Context, t *testing.T) *cluster {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkHostFree(); err != nil {
		t.Fatalf("this machine is not free for the real-node test: %v", err)
	}
	cl := &cluster{root: root, logDir: filepath.Join(root, "_output", "node"), td: &teardown{}}
	if cl.node, err = nodeName(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cl.logDir} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cl.build(ctx, t)

	if cl.dir, err = os.MkdirTemp("", "kcp-node-"); err != nil {
		t.Fatal(err)
	}
	active.Store(cl.td)
	t.Cleanup(func() {
		start := time.Now()
		if err := cl.td.run(); err != nil {
			t.Error(err)
		}
		report("tear-down %s; logs in %s", since(start), cl.logDir)
	})
	dir := cl.dir
	cl.td.add("remove "+dir, func() error {
		if err := unmountUnder(dir); err != nil {
			return err // never remove a folder with something still mounted in it
		}
		return os.RemoveAll(dir)
	})
	rules := firewallRules()
	cl.td.add("check the firewall rules", func() error {
		if after := firewallRules(); after != rules {
			return fmt.Errorf("the iptables/nftables rules changed during the test:\nbefore:\n%s\nafter:\n%s", rules, after)
		}
		return nil
	})
	removeNewHostPaths(cl.td, cl.dir)
	cl.td.add("remove the kubepods cgroups", removeCgroups)
	saved, err := saveSysctls(cl.td)
	if err != nil {
		t.Fatal(err)
	}
	cl.td.add("report the sysctls put back", func() error {
		if changed, _ := restoreSysctls(saved); len(changed) > 0 {
			report("sysctls changed during the run, put back: %v", changed)
		}
		return nil
	})
	if err := setUpNetwork(cl.td); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cl.startControlPlane(ctx, t)
	ports, err := controlplane.FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	if cl.ctrd, err = startContainerd(ctx, cl.td, cl.dir, cl.logDir, ports[0]); err != nil {
		t.Fatal(err)
	}
	cl.importImages(ctx, t)
	kubeconfig := cl.cp.AdminKubeconfig
	caFile := filepath.Join(cl.dir, "ca.crt")
	if err := os.WriteFile(caFile, cl.cp.Admin.CAData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.comps.startControllers(cl.td, cl.binDir(), cl.dir, cl.logDir, kubeconfig, caFile, ports[1:3]); err != nil {
		t.Fatal(err)
	}
	kubeletStart := time.Now()
	if err := cl.comps.startKubelet(cl.td, cl.binDir(), cl.dir, cl.logDir, kubeconfig, cl.ctrd.sock, ports[3:5]); err != nil {
		t.Fatal(err)
	}
	// First in the tear-down: the workloads go while the node still runs.
	cl.td.add("delete the pods", func() error { return cl.deleteAllPods() })
	if err := cl.comps.waitNodeReady(ctx, cl.c, cl.node); err != nil {
		t.Fatalf("%v\nkubelet: %s", err, tailFile(cl.comps.kubelet.logPath, 20))
	}
	report("node %s Ready %s after kubelet started (%s after the control plane started)", cl.node, since(kubeletStart), since(start))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}
	if _, err := cl.c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl.logs = newPodLogs(cl)
	return cl
}

func (cl *cluster) binDir() string { return filepath.Join(cl.root, "bin", "node") }

// build builds the control plane, the node components and both images when missing or
// out of date, and checks the images against the Dockerfiles.
func (cl *cluster) build(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := controlplane.EnsureBinaries(ctx, cl.root, os.Stderr); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, script string) {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(cl.root, "hack", script))
		cmd.Dir, cmd.Stdout, cmd.Stderr = cl.root, os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("hack/%s: %v", script, err)
		}
	}
	run(nil, "nodetools.sh")
	report("control plane and node binaries ready in %s", since(start))
	start = time.Now()
	run([]string{"OUT_DIR=" + cl.imagesDir()}, "images.sh")
	report("images built in %s (hack/images.sh into %s)", since(start), cl.imagesDir())
	checkArchive(t, cl.root, providerName, "Dockerfile", cl.archive(providerName))
	checkArchive(t, cl.root, agentName, "Dockerfile.agent", cl.archive(agentName))
	if t.Failed() {
		t.FailNow()
	}
}

func (cl *cluster) imagesDir() string { return filepath.Join(cl.root, "_output", "node", "images") }

func (cl *cluster) archive(name string) string { return filepath.Join(cl.imagesDir(), name+".tar") }

// startControlPlane starts etcd and kube-apiserver, the API server on the bridge (pods
// reach it there) with the ServiceAccount admission plugin on (pods get their tokens)
// and the request-header settings of a kubeadm cluster.
func (cl *cluster) startControlPlane(ctx context.Context, t *testing.T) {
	t.Helper()
	log, err := os.Create(filepath.Join(cl.logDir, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	cl.td.add("close the control plane log", log.Close)
	flags, err := frontProxyFlags(filepath.Join(cl.dir, "front-proxy-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cl.cp, err = controlplane.Start(ctx, controlplane.Options{
		Root: cl.root, Dir: filepath.Join(cl.dir, "controlplane"), Log: log,
		BindAddress: bridgeIP, ServiceAccountAdmission: true, SkipManifests: true, APIServerFlags: flags,
	})
	if err != nil {
		t.Fatalf("starting the control plane: %v (see %s)", err, log.Name())
	}
	cl.td.add("stop kube-apiserver and etcd", cl.cp.Stop)
	cl.c = cl.cp.Client
	u, err := url.Parse(cl.cp.Admin.Host)
	if err != nil {
		t.Fatal(err)
	}
	if cl.apiPort, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatalf("API server at %s: %v", cl.cp.Admin.Host, err)
	}
}

// importImages imports the sandbox image and both archives, before anything is applied.
func (cl *cluster) importImages(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	for _, archive := range []string{filepath.Join(cl.binDir(), "pause.tar"), cl.archive(providerName), cl.archive(agentName)} {
		if err := cl.ctrd.importImage(ctx, archive); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{providerName, agentName} {
		ref, err := manifestImage(cl.root, name)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := cl.ctrd.hasImage(ctx, ref); err != nil || !ok {
			t.Fatalf("containerd does not list %s after the import (%v)", ref, err)
		}
	}
	report("images imported with ctr in %s", since(start))
}
