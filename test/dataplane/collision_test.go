package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// The foreign VRRP router: another VRRP user on the segment (a router pair, another
// cluster) that took one of our virtual router IDs.
const (
	rogueAddr = subnet + ".40"
	rogueVIP  = subnet + ".250"
	rogueVRID = routerIDBase
	// collisionLog is the agent's log line for a foreign speaker.
	collisionLog = "Foreign VRRP speaker on one of our virtual router IDs"
)

// rogueConfig is a plain keepalived.conf: multicast, BACKUP, priority 50. Our agents
// speak unicast, so it hears no master on its VRID and becomes one within about 4 s.
var rogueConfig = fmt.Sprintf(`global_defs {
	router_id rogue
}
vrrp_instance rogue {
	state BACKUP
	interface eth0
	virtual_router_id %d
	priority 50
	advert_int 1
	virtual_ipaddress {
		%s/32
	}
}
`, rogueVRID, rogueVIP)

// testVRIDCollision runs a plain keepalived on our base VRID in a fourth namespace on
// the bridge: the agents must notice it (metric, log, a Warning event on a Node), stay
// healthy and keep the VIPs answering; once it stops, the gauge goes back to 0.
func (cl *cluster) testVRIDCollision(ctx context.Context, t *testing.T, vips []string) {
	rogue := cl.startRogue(t)
	start := rogue.started
	err := poll(ctx, 10*time.Second, "foreign_vrrp_speakers ≥ 1 on every agent", func() (bool, string) {
		return cl.allAgents("keepalived_vip_agent_foreign_vrrp_speakers", func(v float64) bool { return v >= 1 })
	})
	if err != nil {
		t.Errorf("%v\nthe foreign keepalived: %s", err, tail(rogue.log, 10))
	} else {
		report(t, "foreign VRRP speaker (plain keepalived, VRID %d, %s): every agent counts it %s after it started",
			rogueVRID, rogueAddr, time.Since(start).Round(time.Millisecond))
	}
	for _, n := range cl.topo.Nodes {
		a := cl.agents[n.Name]
		if lines := a.logLines(collisionLog); !containsLine(lines, rogueAddr, strconv.Itoa(rogueVRID)) {
			t.Errorf("%s's agent logged no %q naming VRID %d and %s; lines: %q", n.Name, collisionLog, rogueVRID, rogueAddr, lines)
		}
	}
	cl.expectNodeEvent(ctx, t, "VRIDCollision", strconv.Itoa(rogueVRID), rogueAddr)
	for _, n := range cl.topo.Nodes {
		if !cl.agents[n.Name].healthy() {
			t.Errorf("%s's agent /healthz is not 200 during the collision", n.Name)
		}
	}
	for _, vip := range vips {
		cl.checkAnswers(t, vip)
	}

	for _, n := range cl.topo.Nodes {
		adverts, err := cl.agents[n.Name].metric("keepalived_vip_agent_foreign_vrrp_adverts_total")
		report(t, "foreign VRRP speaker: %s counted %v foreign adverts %s after it started", n.Name, adverts, time.Since(rogue.started).Round(time.Second))
		if err != nil || adverts < 1 {
			t.Errorf("%s: foreign_vrrp_adverts_total %v (%v); want ≥ 1", n.Name, adverts, err)
		}
	}
	start = time.Now()
	rogue.stop(t)
	err = poll(ctx, 20*time.Second, "foreign_vrrp_speakers 0 on every agent", func() (bool, string) {
		return cl.allAgents("keepalived_vip_agent_foreign_vrrp_speakers", func(v float64) bool { return v == 0 })
	})
	if err != nil {
		t.Error(err)
	} else {
		report(t, "foreign VRRP speaker stopped: foreign_vrrp_speakers back to 0 on every agent after %s", time.Since(start).Round(time.Millisecond))
	}
}

// allAgents reports whether the unlabelled metric satisfies ok on every agent.
func (cl *cluster) allAgents(metric string, ok func(float64) bool) (bool, string) {
	all := true
	var seen []string
	for _, n := range cl.topo.Nodes {
		v, err := cl.agents[n.Name].metric(metric)
		all = all && err == nil && ok(v)
		seen = append(seen, fmt.Sprintf("%s: %v (%v)", n.Name, v, err))
	}
	return all, strings.Join(seen, ", ")
}

func containsLine(lines []string, texts ...string) bool {
	for _, l := range lines {
		if containsAll(l, texts) {
			return true
		}
	}
	return false
}

// expectNodeEvent waits for a Warning event of the agents about a Node with reason
// whose message contains every one of texts.
func (cl *cluster) expectNodeEvent(ctx context.Context, t *testing.T, reason string, texts ...string) {
	t.Helper()
	sel := fields.Set{"involvedObject.kind": "Node", "reason": reason}.AsSelector().String()
	var found corev1.Event
	err := poll(ctx, 20*time.Second, fmt.Sprintf("a Warning %s event on a Node containing %q", reason, texts), func() (bool, string) {
		list, err := cl.c.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			seen = append(seen, fmt.Sprintf("%s %s on %s: %q (%s)", e.Type, e.Reason, e.InvolvedObject.Name, e.Message, e.Source.Component))
			if e.Type == corev1.EventTypeWarning && e.Source.Component == agentComponent && containsAll(e.Message, texts) {
				found = e
				return true, ""
			}
		}
		return false, strings.Join(seen, " | ")
	})
	if err != nil {
		t.Error(err)
		return
	}
	t.Logf("event on Node %s: %s %s %q", found.InvolvedObject.Name, found.Type, found.Reason, found.Message)
}

// rogueRouter is the foreign keepalived this test started.
type rogueRouter struct {
	dir, log string
	cmd      *exec.Cmd
	started  time.Time
	done     chan struct{}
}

// startRogue attaches a namespace to the bridge and runs a plain keepalived in it.
func (cl *cluster) startRogue(t *testing.T) *rogueRouter {
	t.Helper()
	ns := strings.TrimSuffix(cl.topo.BridgeNS, "-br") + "-rogue"
	addOther(t, cl.topo, ns, "vr", netip.MustParseAddr(rogueAddr))
	r := &rogueRouter{dir: filepath.Join(cl.out, "rogue")}
	r.log = filepath.Join(r.dir, "keepalived.log")
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(r.dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(rogueConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	r.cmd = netns.Command(ns, "keepalived", "--dont-fork", "--log-console", "--vrrp",
		"--use-file", conf, "--pid", filepath.Join(r.dir, "keepalived.pid"), "--vrrp_pid", filepath.Join(r.dir, "vrrp.pid"))
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.started, r.done = time.Now(), make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the foreign keepalived: SIGTERM to the process this test started, and
// SIGKILL to it and its VRRP child after 5 s.
func (r *rogueRouter) stop(t *testing.T) {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		if data, err := os.ReadFile(filepath.Join(r.dir, "vrrp.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("the foreign keepalived did not stop within 5s of SIGTERM; killed")
	}
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
