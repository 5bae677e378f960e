package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/keepalived"
	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/placement"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Agent turns the VIP ConfigMap into a running keepalived.
type Agent struct {
	cfg     Config
	client  kubernetes.Interface
	metrics *Metrics
	ip      keepalived.IPCommand
	proc    *keepalived.Process
	watch   *watcher
	poke    chan struct{}

	events record.EventRecorder // nil until Run

	mu          sync.Mutex
	plan        placement.Plan   // last synced
	vips        []keepalived.VIP // the usable entries, last synced
	written     []byte           // last written keepalived.conf
	states      map[string]string
	known       map[netip.Addr]bool // every VIP put in keepalived.conf, by us or a previous run
	peerAddrs   map[netip.Addr]bool // the peers' addresses, for telling foreign VRRP speakers
	holding     map[netip.Addr]bool // VIPs this node announces
	unannounced map[netip.Addr]placement.Reason
	excluded    *bool // as last written to the excluded file
	// the label sets of the per-VIP and per-instance series, to delete what is gone
	vipSeries      map[keepalived.VIP]bool
	instanceSeries map[string]bool
	lastProblems   string
}

// Files in the config directory.
const (
	confFile     = "keepalived.conf"
	fifoFile     = "notify.fifo"
	healthFile   = "proxy-health"
	excludedFile = "node-excluded"
)

// New makes an agent; Run starts it.
func New(cfg Config, client kubernetes.Interface, m *Metrics) *Agent {
	a := &Agent{
		cfg: cfg, client: client, metrics: m,
		ip:     keepalived.IPCommand(cfg.IPCommand),
		poke:   make(chan struct{}, 1),
		states: map[string]string{},
		known:  map[netip.Addr]bool{}, holding: map[netip.Addr]bool{}, unannounced: map[netip.Addr]placement.Reason{},
	}
	a.proc = &keepalived.Process{
		Command: cfg.KeepalivedCommand, ConfigFile: a.path(confFile), Dir: cfg.ConfigDir,
		BeforeStart: a.beforeStart, OnExit: a.onExit,
		StopTimeout: 5 * time.Second, Backoff: flowcontrol.NewBackOff(time.Second, 30*time.Second),
	}
	return a
}

func (a *Agent) path(name string) string { return filepath.Join(a.cfg.ConfigDir, name) }

// Run works until ctx ends, then stops keepalived (which hands its VIPs to a peer at
// once) and removes any VIP left on the interface.
func (a *Agent) Run(ctx context.Context) error {
	fifo, err := a.prepare(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = fifo.Close() }()
	klog.InfoS("Forwarding is left to the cluster's service proxy (kube-proxy or Cilium, ipMode VIP): the agent only announces addresses; NAT, DR and PROXY suffixes were IPVS modes of kube-keepalived-vip and are ignored")
	if a.watch, err = startWatcher(ctx, a.client, a.cfg, a.trigger); err != nil {
		return err
	}
	stopEvents := a.startEvents()
	defer stopEvents()
	if err := a.sync(); err != nil {
		return err
	}
	listener, err := net.Listen("tcp", a.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("--listen-address: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { keepalived.ReadNotifications(ctx, fifo, a.onNotification) })
	wg.Go(func() { a.watchVRRP(ctx) })
	wg.Go(func() { a.checkKubeProxy(ctx) })
	if a.cfg.HealthCheckURL != "" {
		wg.Go(func() { a.checkHealth(ctx) })
	}
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- a.serve(ctx, listener) })
	wg.Go(func() { a.proc.Run(ctx) })
	a.loop(ctx, serveErr)
	_ = fifo.Close() // ends ReadNotifications
	wg.Wait()
	a.removeStale(context.Background())
	return nil
}

// prepare makes the config directory, finds the interface, and opens the notify FIFO.
func (a *Agent) prepare(ctx context.Context) (*os.File, error) {
	if err := os.MkdirAll(a.cfg.ConfigDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating --config-dir: %w", err)
	}
	if a.cfg.Interface == "" {
		iface, err := a.ip.DefaultInterface(ctx)
		if err != nil {
			return nil, fmt.Errorf("finding the interface: %w", err)
		}
		a.cfg.Interface = iface
	}
	// A previous run's VIPs may still be on the interface if its keepalived was killed.
	if old, err := os.ReadFile(a.path(confFile)); err == nil {
		for _, addr := range keepalived.VIPsIn(old) {
			a.known[addr] = true
		}
	}
	if err := a.bootHealth(); err != nil {
		return nil, err
	}
	klog.InfoS("Starting", "node", a.cfg.NodeName, "interface", a.cfg.Interface, "configMap", a.cfg.Namespace+"/"+a.cfg.ConfigMap,
		"configMapIPv6", a.cfg.Namespace+"/"+a.cfg.ConfigMapIPv6,
		"instances", a.cfg.Instances, "localInstances", a.cfg.LocalInstances,
		"virtualRouterIDs", rangeText(a.cfg.RouterIDBase, a.cfg.RouterIDBase+a.cfg.Instances+a.cfg.LocalInstances-1),
		"unicast", a.cfg.Unicast, "healthCheckURL", a.cfg.HealthCheckURL, "configDir", a.cfg.ConfigDir)
	return keepalived.OpenFIFO(a.path(fifoFile))
}

// trigger asks the loop to sync; it never blocks.
func (a *Agent) trigger() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

func (a *Agent) loop(ctx context.Context, serveErr <-chan error) {
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-serveErr:
			klog.ErrorS(err, "Serving /healthz and /metrics stopped")
		case <-a.poke:
			if err := a.sync(); err != nil {
				klog.ErrorS(err, "Updating keepalived failed; retrying in 5s")
				time.AfterFunc(5*time.Second, a.trigger)
			}
		}
	}
}

// sync renders keepalived.conf from the ConfigMap, the peers, the Services and their
// endpoints, and reloads keepalived when the file changed.
func (a *Agent) sync() error {
	cm, cm6 := a.watch.configMap(a.cfg.ConfigMap), a.watch.configMap(a.cfg.ConfigMapIPv6)
	a.metrics.ConfigMapPresent.Set(boolGauge(cm != nil))
	vips, problems := entries(cm, vipconfig.IPv4)
	vips6, problems6 := entries(cm6, vipconfig.IPv6)
	vips = append(vips, vips6...)
	a.report(cm == nil, append(problems, problems6...))
	peers := a.peers()
	excluded := isExcluded(a.watch.node(a.cfg.NodeName))
	if err := a.writeExcluded(excluded); err != nil {
		return err
	}
	plan := a.makePlan(a.placed(vips), peers)
	spec := a.specFor(plan, peers)
	conf := keepalived.Render(spec)
	a.mu.Lock()
	unchanged := bytes.Equal(conf, a.written)
	a.mu.Unlock()
	if !unchanged {
		if err := writeFile(a.path(confFile), conf); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.plan, a.vips, a.written = plan, vips, conf
	for name := range a.states { // a removed instance may come back: not as MASTER
		if !slices.ContainsFunc(plan.Instances, func(in placement.Instance) bool { return in.Name == name }) {
			delete(a.states, name)
		}
	}
	for _, v := range vips {
		a.known[v.Addr] = true
	}
	a.peerAddrs = peerAddrs(peers)
	changes := a.updateHoldingsLocked()
	a.mu.Unlock()
	a.announceChanges(changes)
	a.reportUnannounced(plan, vips, a.isReporter(peers))
	a.metrics.VIPs.Set(float64(len(vips)))
	if unchanged {
		return nil
	}
	reloaded, err := a.proc.Reload()
	if err != nil {
		return err
	}
	if reloaded {
		a.metrics.Reloads.Inc()
		klog.InfoS("Reloaded keepalived", "vips", len(vips), "instances", len(plan.Instances), "unannounced", len(plan.Unannounced))
	}
	return nil
}

// report logs the entries that cannot be announced, once per change.
func (a *Agent) report(missing bool, problems []problem) {
	a.metrics.BadEntries.Set(float64(len(problems)))
	var lines []string
	if missing {
		lines = append(lines, "missing")
	}
	for _, p := range problems {
		lines = append(lines, p.String())
	}
	summary := strings.Join(lines, "\n")
	a.mu.Lock()
	changed := summary != a.lastProblems
	a.lastProblems = summary
	a.mu.Unlock()
	if !changed {
		return
	}
	if missing {
		klog.InfoS("The VIP ConfigMap does not exist (yet): announcing nothing", "configMap", a.cfg.Namespace+"/"+a.cfg.ConfigMap)
	}
	for _, p := range problems {
		klog.InfoS("Skipping a ConfigMap entry that cannot be announced", "key", p.Key, "value", p.Value, "reason", p.Reason)
	}
}

// makePlan places vips over the VRRP instances.
func (a *Agent) makePlan(vips []placement.VIP, peers []Peer) placement.Plan {
	return placement.Make(placement.Input{
		Node: a.cfg.NodeName, Rotation: rotation(peers), Excluded: a.excludedPeers(peers), Shared: a.cfg.Instances, Local: a.cfg.LocalInstances,
		RouterIDBase: a.cfg.RouterIDBase, VIPs: vips,
	})
}

// specFor is the keepalived.conf content for plan and peers.
func (a *Agent) specFor(plan placement.Plan, peers []Peer) keepalived.Spec {
	spec := keepalived.Spec{
		Node: a.cfg.NodeName, Interface: a.cfg.Interface, AdvertInt: a.cfg.AdvertInt,
		Unicast: a.cfg.Unicast, NotifyFIFO: a.path(fifoFile), ExcludedFile: a.path(excludedFile),
	}
	if a.cfg.HealthCheckURL != "" {
		spec.HealthFile = a.path(healthFile)
	}
	addrs := map[string][2]netip.Addr{}
	for _, p := range peers {
		addrs[p.Name] = [2]netip.Addr{p.Addr, p.Addr6}
		if p.Name == a.cfg.NodeName {
			spec.UnicastSrc, spec.UnicastSrc6 = p.Addr, p.Addr6
			continue
		}
		spec.UnicastPeers = appendValid(spec.UnicastPeers, p.Addr)
		spec.UnicastPeers6 = appendValid(spec.UnicastPeers6, p.Addr6)
	}
	for _, in := range plan.Instances {
		ki := keepalived.Instance{Name: in.Name, RouterID: in.RouterID, Priority: in.Priority, StartMaster: in.StartMaster,
			FaultWhenUnhealthy: in.Members != nil, IPv6: in.IPv6}
		family := 0
		if in.IPv6 {
			family = 1
		}
		for _, v := range in.VIPs {
			ki.VIPs = append(ki.VIPs, keepalived.VIP{Addr: v.Addr, Service: v.Service})
		}
		// A group's adverts go to its members only; a group of one keeps every peer
		// (without a unicast peer keepalived would fall back to multicast).
		for _, m := range in.Members {
			if m != a.cfg.NodeName {
				ki.UnicastPeers = appendValid(ki.UnicastPeers, addrs[m][family])
			}
		}
		spec.Instances = append(spec.Instances, ki)
	}
	return spec
}

// peers are the static peers or the selected Nodes, sorted by name.
func (a *Agent) peers() []Peer {
	if a.cfg.PeerSelector != nil {
		return a.watch.nodePeers()
	}
	return a.cfg.Peers
}

// beforeStart removes VIPs a killed keepalived may have left: none is ours while
// keepalived is down.
func (a *Agent) beforeStart(ctx context.Context) {
	a.removeStale(ctx)
	a.metrics.KeepalivedUp.Set(1)
}

func (a *Agent) removeStale(ctx context.Context) {
	a.mu.Lock()
	known := make(map[netip.Addr]bool, len(a.known))
	for addr := range a.known {
		known[addr] = true
	}
	a.mu.Unlock()
	removed, err := a.ip.RemoveStale(ctx, a.cfg.Interface, known)
	if len(removed) > 0 {
		a.metrics.StaleVIPsRemoved.Add(float64(len(removed)))
		klog.InfoS("Removed VIPs left on the interface by a keepalived that did not stop cleanly", "interface", a.cfg.Interface, "vips", removed)
	}
	if err != nil {
		klog.ErrorS(err, "Removing stale VIPs failed", "interface", a.cfg.Interface)
	}
}

// onExit forgets the instance states and, after a crash, removes the VIPs keepalived
// left at once, rather than after the restart delay: a peer is taking them over.
func (a *Agent) onExit(err error) {
	a.metrics.KeepalivedUp.Set(0)
	a.mu.Lock()
	clear(a.states)
	changes := a.updateHoldingsLocked()
	a.mu.Unlock()
	a.announceChanges(changes)
	if err != nil {
		a.metrics.KeepalivedExits.Inc()
		a.removeStale(context.Background())
	}
}

func (a *Agent) onNotification(n keepalived.Notification) {
	klog.InfoS("VRRP instance changed state", "instance", n.Instance, "state", n.State, "priority", n.Priority)
	a.mu.Lock()
	a.states[n.Instance] = n.State
	changes := a.updateHoldingsLocked()
	a.mu.Unlock()
	a.announceChanges(changes)
}

func appendValid(addrs []netip.Addr, a netip.Addr) []netip.Addr {
	if a.IsValid() {
		return append(addrs, a)
	}
	return addrs
}

// writeFile replaces path atomically, so keepalived never reads half a file.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("replacing %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
