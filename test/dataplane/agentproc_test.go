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
	"k8s.io/component-base/metrics/testutil"
)

// agentProc is one keepalived-vip-agent process; Start may be called again after it exited.
type agentProc struct {
	node    *node
	binary  string
	args    []string
	dir     string // --config-dir
	logPath string
	port    int

	cmd  *exec.Cmd
	done chan struct{}
}

func (a *agentProc) Start() error {
	log, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	_, _ = fmt.Fprintf(log, "===== %s %s\n", a.binary, strings.Join(a.args, " "))
	cmd := exec.Command(a.binary, a.args...)
	cmd.Env = withoutVars(os.Environ(), "KEEPALIVED_", "KUBECONFIG", "NODE_NAME")
	cmd.Stdout, cmd.Stderr = log, log
	// Should this test die outright, the agent goes too (and stops its keepalived).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent for %s: %w", a.node.Name, err)
	}
	a.cmd, a.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(a.done)
	return nil
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

// Signal sends sig to the agent (only to the process this test started).
func (a *agentProc) Signal(sig syscall.Signal) {
	if a.running() {
		_ = a.cmd.Process.Signal(sig)
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
		a.Signal(syscall.SIGKILL)
		<-a.done
		return fmt.Errorf("agent for %s did not stop within %s of SIGTERM", a.node.Name, grace)
	}
}

func (a *agentProc) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", a.port, path)
}

// healthy reports whether /healthz answers 200 (keepalived runs).
func (a *agentProc) healthy() bool {
	resp, err := http.Get(a.url("/healthz"))
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

// scrape reads /metrics in the text format. (Not testutil.ParseMetrics: it loops forever
// on input it cannot parse.)
func (a *agentProc) scrape() (testutil.Samples, error) {
	resp, err := http.Get(a.url("/metrics"))
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

// withoutVars drops the variables whose names start with one of prefixes or equal one.
func withoutVars(env []string, prefixes ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
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
