package dataplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/component-base/metrics/testutil"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// agentProc is one keepalived-vip-agent process, run inside its node's network
// namespace (host network, as the DaemonSet runs it); Start may be called again after
// it exited.
type agentProc struct {
	node    *netns.Node
	binary  string
	args    []string
	dir     string // the node's --config-dir on the host
	logPath string
	port    int              // /healthz and /metrics on 127.0.0.1 inside the namespace
	client  *http.Client     // dials from inside the namespace
	sandbox *securityContext // when set, the agent runs under the DaemonSet's security context

	cmd  *exec.Cmd // ip netns exec, which execs the agent (or bwrap, whose child it is)
	pid  int       // the agent's own pid
	done chan struct{}
}

func (a *agentProc) Start() error {
	log, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	argv := append([]string{a.binary}, a.args...)
	if a.sandbox != nil {
		argv = a.sandbox.wrap(argv...)
	}
	// Should this test die outright, the agent goes too (and stops its keepalived):
	// netns.Command sets Pdeathsig, and ip netns exec execs, so that is the agent's (or
	// bwrap's, and bwrap's --die-with-parent passes it on).
	cmd := netns.Command(a.node.NS, argv...)
	_, _ = fmt.Fprintf(log, "===== %s\n", strings.Join(cmd.Args, " "))
	cmd.Env = netns.AgentEnv()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent for %s: %w", a.node.Name, err)
	}
	a.cmd, a.pid, a.done = cmd, cmd.Process.Pid, make(chan struct{})
	go func(done chan struct{}, logPath string) {
		err := cmd.Wait()
		if f, ferr := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
			_, _ = fmt.Fprintf(f, "===== exited: %v\n", orExit0(err))
			_ = f.Close()
		}
		close(done)
	}(a.done, a.logPath)
	if a.sandbox != nil {
		pid, err := a.sandboxedPID()
		if err != nil {
			a.kill()
			return err
		}
		a.pid = pid
	}
	return nil
}

// sandboxedPID finds the agent under bwrap: bwrap's child, once it has exec'd the
// agent (through setpriv).
func (a *agentProc) sandboxedPID() (int, error) {
	bwrap := a.cmd.Process.Pid
	binary, err := filepath.EvalSymlinks(a.binary)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && a.running() {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", bwrap, bwrap))
		for _, f := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(f)
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == binary {
				return pid, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("agent for %s: no agent process under bwrap (pid %d); see %s", a.node.Name, bwrap, a.logPath)
}

// kill ends the agent at once with SIGKILL (a crash, or power loss) and waits for it.
func (a *agentProc) kill() {
	if !a.running() {
		return
	}
	_ = syscall.Kill(a.pid, syscall.SIGKILL)
	_ = a.cmd.Process.Kill() // bwrap, when sandboxed; the agent itself otherwise
	<-a.done
}

func (a *agentProc) running() bool {
	if a.done == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the agent (a process this test started, or bwrap's child that
// it started: bwrap does not pass signals on).
func (a *agentProc) Signal(sig syscall.Signal) {
	if a.running() {
		_ = syscall.Kill(a.pid, sig)
	}
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (a *agentProc) Stop(grace time.Duration) error {
	if !a.running() {
		return nil
	}
	a.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return nil
	case <-time.After(grace):
		a.kill()
		return fmt.Errorf("agent for %s did not stop within %s of SIGTERM", a.node.Name, grace)
	}
}

func (a *agentProc) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", a.port, path)
}

// healthy reports whether /healthz answers 200 (keepalived runs).
func (a *agentProc) healthy() bool {
	resp, err := a.client.Get(a.url("/healthz"))
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metric reads one unlabelled sample of /metrics, e.g. keepalived_vip_agent_master_vips.
func (a *agentProc) metric(name string) (float64, error) {
	samples, err := a.scrape()
	if err != nil {
		return 0, err
	}
	want := testutil.Metric{testutil.MetricNameLabel: testutil.LabelValue(name)}
	for _, s := range samples {
		if s.Metric.Equal(want) {
			return float64(s.Value), nil
		}
	}
	return 0, fmt.Errorf("metric %s not found on %s", name, a.url("/metrics"))
}

// metricSum adds up every sample of a labelled metric, e.g. keepalived_vip_agent_instance_master
// (0 when /metrics does not answer).
func (a *agentProc) metricSum(name string) float64 {
	samples, _ := a.scrape()
	sum := 0.0
	for _, s := range samples {
		if s.Metric[testutil.MetricNameLabel] == testutil.LabelValue(name) {
			sum += float64(s.Value)
		}
	}
	return sum
}

// metricWith reads the sample of name whose labels include labels; found is false
// when there is none (or /metrics does not answer).
func (a *agentProc) metricWith(name string, labels map[string]string) (value float64, found bool) {
	samples, _ := a.scrape()
	for _, s := range samples {
		if s.Metric[testutil.MetricNameLabel] != testutil.LabelValue(name) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && s.Metric[model.LabelName(k)] == model.LabelValue(v)
		}
		if match {
			return float64(s.Value), true
		}
	}
	return 0, false
}

// logLines are the lines of the agent's log (all its runs) that contain text.
func (a *agentProc) logLines(text string) []string {
	data, _ := os.ReadFile(a.logPath)
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, text) {
			lines = append(lines, line)
		}
	}
	return lines
}

// scrape reads /metrics in the text format. (Not testutil.ParseMetrics: it loops forever
// on input it cannot parse.)
func (a *agentProc) scrape() (testutil.Samples, error) {
	resp, err := a.client.Get(a.url("/metrics"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", a.url("/metrics"), resp.Status)
	}
	families, err := testutil.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", a.url("/metrics"), err)
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, slices.Collect(maps.Values(families))...)
	return testutil.Samples(samples), err
}

// keepalivedPIDs reads the pid files keepalived wrote: its parent and its VRRP child.
func (a *agentProc) keepalivedPIDs() (parent, vrrp int, err error) {
	read := func(name string) (int, error) {
		data, err := os.ReadFile(filepath.Join(a.dir, name))
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(data)))
	}
	parent, err1 := read("keepalived.pid")
	vrrp, err2 := read("vrrp.pid")
	return parent, vrrp, errors.Join(err1, err2)
}

func (a *agentProc) waitHealthy(ctx context.Context) error {
	for !a.healthy() {
		if !a.running() {
			return fmt.Errorf("agent for %s exited; see %s", a.node.Name, a.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent for %s not healthy: %w; see %s", a.node.Name, ctx.Err(), a.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// usage is a process's CPU time and resident memory from /proc.
type usage struct {
	cpu time.Duration
	rss int64 // bytes
}

func procUsage(pid int) (usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// pid (comm) state ppid ... utime(14) stime(15): fields after ")" start at state (3).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	u := usage{cpu: time.Duration(utime+stime) * time.Second / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			u.rss = kb * 1024
		}
	}
	return u, nil
}

func orExit0(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}
