package dataplane

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

const (
	// pool is inside the bridge's subnets, so the client reaches every VIP: an IPv4
	// range and an IPv6 one.
	pool        = subnet + ".100-" + subnet + ".119," + subnet6 + "100-" + subnet6 + "11f"
	testNS      = "dataplane"
	peerLabel   = "dataplane.test/vip-agent"
	vipCM       = "vip-configmap"
	vipCM6      = "vip-configmap-ipv6" // the provider's and the agents' default: <vipCM>-ipv6
	vipCMNS     = "kube-system"
	healthEvery = 500 * time.Millisecond
	// serviceCIDRs are the API server's --service-cluster-ip-range: dual-stack, IPv4
	// first, so that Services that name no policy stay SingleStack IPv4.
	serviceCIDRs = "10.96.0.0/16,fd00:96::/108"
	// vrrpInstances is 3 so that each of the three nodes leads one.
	vrrpInstances = 3
	// routerIDBase is the first virtual router ID: shared instances 77-79, then the
	// instances for externalTrafficPolicy Local.
	routerIDBase = 77
	// agentPort serves /healthz and /metrics on 127.0.0.1 inside each node's namespace
	// (the DaemonSet's port).
	agentPort = 9742
	// sandboxedNode runs its agent under the DaemonSet's security context.
	sandboxedNode = "node3"
)

// cluster is everything the test runs: namespaces, control plane, provider and agents.
type cluster struct {
	root     string
	out      string // _output/dataplane: logs
	topo     *netns.Topology
	cp       *controlplane.ControlPlane
	c        kubernetes.Interface
	provider *controlplane.Provider
	agents   map[string]*agentProc
	// proxyUp is what each node's fake service proxy health check answers.
	proxyUp map[string]*atomic.Bool
	// ingressVIP is the address of the externalTrafficPolicy Local Service, once it has one.
	ingressVIP string
	// home is the node each shared-instance VIP settles on (its instance's top-ranked
	// node), as checkSpread found it.
	home map[string]*netns.Node
}

func setUp(ctx context.Context, t *testing.T) *cluster {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{root: root, out: filepath.Join(root, "_output", "dataplane"), agents: map[string]*agentProc{}, proxyUp: map[string]*atomic.Bool{}}
	if err := os.RemoveAll(cl.out); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cl.out, 0o755); err != nil {
		t.Fatal(err)
	}
	cl.topo = newTopology(t, "node1", "node2", "node3")
	cl.startControlPlane(ctx, t)
	cl.startProvider(ctx, t)
	agentBin := filepath.Join(root, "bin", "dataplane", "keepalived-vip-agent")
	build(ctx, t, root, agentBin, "./cmd/keepalived-vip-agent")
	kubeconfig := cl.agentKubeconfig(ctx, t)
	apiPort := cl.apiServerPort(t)
	for _, n := range cl.topo.Nodes {
		forwardIntoNetns(t, n.NS, apiPort)
		cl.startAgent(ctx, t, n, agentBin, kubeconfig)
	}
	cl.waitElected(ctx, t)
	return cl
}

// waitElected waits for the first VRRP election (about 3.5 advert intervals after
// keepalived starts), so that what follows measures reloads, not the start.
func (cl *cluster) waitElected(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	err := poll(ctx, 20*time.Second, "one master per VRRP instance", func() (bool, string) {
		masters := 0.0
		for _, a := range cl.agents {
			masters += a.metricSum("keepalived_vip_agent_instance_master")
		}
		return masters == vrrpInstances, fmt.Sprintf("%v masters", masters)
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "agents started; every VRRP instance had a master %s later", time.Since(start).Round(time.Millisecond))
}

func (cl *cluster) startControlPlane(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := controlplane.EnsureBinaries(ctx, cl.root, os.Stderr); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(cl.out, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	cl.cp, err = controlplane.Start(ctx, controlplane.Options{Root: cl.root, Log: log, ManifestsWait: time.Minute,
		APIServerFlags: map[string]string{"service-cluster-ip-range": serviceCIDRs}})
	if err != nil {
		t.Fatalf("starting the control plane: %v (see %s)", err, log.Name())
	}
	t.Cleanup(func() { _ = cl.cp.Stop() })
	cl.c = cl.cp.Client
	if out, err := cl.cp.Kubectl(ctx, "apply", "-k", filepath.Join(cl.root, "manifests", "agent")); err != nil {
		t.Fatalf("kubectl apply -k manifests/agent: %v\n%s", err, out)
	}
	for _, n := range cl.topo.Nodes {
		cl.createNode(ctx, t, n)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}
	if _, err := cl.c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createNode registers n as a Node with its InternalIPs (IPv4 and IPv6), as a kubelet would.
func (cl *cluster) createNode(ctx context.Context, t *testing.T, n *netns.Node) {
	t.Helper()
	if err := n.Register(ctx, cl.c, map[string]string{peerLabel: "true"}); err != nil {
		t.Fatal(err)
	}
}

func (cl *cluster) startProvider(ctx context.Context, t *testing.T) {
	t.Helper()
	bin := filepath.Join(cl.root, "bin", "dataplane", "keepalived-cloud-provider")
	if err := controlplane.BuildProvider(ctx, cl.root, bin, "v0.0.0-dataplane"); err != nil {
		t.Fatal(err)
	}
	p, err := controlplane.StartProvider(controlplane.ProviderOptions{
		Binary: bin, Kubeconfig: cl.cp.ProviderKubeconfig, LogPath: filepath.Join(cl.out, "provider.log"),
		Env: []string{"KEEPALIVED_SERVICE_CIDR=" + pool},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.provider = p
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	if err := p.WaitLeading(ctx); err != nil {
		t.Fatalf("%v\n%s", err, p.Tail(30))
	}
}

// agentKubeconfig is a kubeconfig for the agent's ServiceAccount (manifests/agent RBAC).
func (cl *cluster) agentKubeconfig(ctx context.Context, t *testing.T) string {
	t.Helper()
	path := filepath.Join(cl.out, "agent.kubeconfig")
	if err := netns.WriteAgentKubeconfig(ctx, cl.c, cl.cp.Admin, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiServerPort is the port of the API server on the host's 127.0.0.1: each node
// gets a forwarder on the same address inside its namespace.
func (cl *cluster) apiServerPort(t *testing.T) int {
	t.Helper()
	port, err := netns.APIServerPort(cl.cp.Admin.Host)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startAgent runs the agent for n inside n's network namespace, as the DaemonSet runs
// it (host network); node3's under the DaemonSet's security context.
func (cl *cluster) startAgent(ctx context.Context, t *testing.T, n *netns.Node, binary, kubeconfig string) {
	t.Helper()
	proxyURL := cl.startProxyHealth(t, n)
	dir := filepath.Join(cl.out, n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := &agentProc{node: n, binary: binary, dir: dir, logPath: filepath.Join(cl.out, n.Name+".log"), port: agentPort,
		client: netns.HTTPClient(n.NS)}
	configDir := dir
	if n.Name == sandboxedNode {
		sc := readSecurityContext(t, cl.root, dir)
		a.sandbox, configDir = &sc, sc.configDir
	}
	a.args = append(netns.AgentArgs(n, kubeconfig, configDir, peerLabel+"=true", agentPort),
		"--vrrp-instances="+strconv.Itoa(vrrpInstances), "--virtual-router-id-base="+strconv.Itoa(routerIDBase),
		"--health-check-url="+proxyURL+"/healthz", "--health-check-interval="+healthEvery.String(),
		"--v=2",
	)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	cl.agents[n.Name] = a
	t.Cleanup(func() {
		if err := a.Stop(15 * time.Second); err != nil {
			t.Error(err)
		}
	})
	if err := a.waitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

// startProxyHealth serves n's fake service proxy health check (kube-proxy's
// 127.0.0.1:10256 in production) inside n's namespace and returns its URL.
func (cl *cluster) startProxyHealth(t *testing.T, n *netns.Node) string {
	t.Helper()
	up := &atomic.Bool{}
	up.Store(true)
	cl.proxyUp[n.Name] = up
	ln, err := netns.Listen(n.NS, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	_ = proxy.Listener.Close()
	proxy.Listener = ln
	proxy.Start()
	t.Cleanup(proxy.Close)
	return proxy.URL
}

func build(ctx context.Context, t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, output)
	}
}

// report prints a measured figure for the closing note: in the test log and on stdout.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	fmt.Println("dataplane: " + msg)
}
