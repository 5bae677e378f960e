package keepalived

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"
)

// Process runs keepalived as a child and restarts it when it dies. It is configured
// through its fields before Run.
type Process struct {
	// Command starts keepalived, e.g. ["keepalived"] or ["ip", "netns", "exec", "node1",
	// "keepalived"]; the agent's own arguments follow it.
	Command []string
	// ConfigFile is keepalived.conf; Dir holds keepalived's pid files.
	ConfigFile, Dir string
	// BeforeStart runs before each start, while no keepalived runs (stale VIP cleanup).
	BeforeStart func(context.Context)
	// OnExit runs after each exit, with its error (nil on a requested stop).
	OnExit func(error)
	// StopTimeout is how long a stopping keepalived gets before SIGKILL.
	StopTimeout time.Duration
	// Backoff gives the delay before a restart: it doubles after each quick death, up
	// to its maximum, and starts over when the last death is twice that long ago.
	Backoff *flowcontrol.Backoff

	mu      sync.Mutex
	pid     int // of the running keepalived, 0 when none
	started time.Time
}

// backoffID is the one entry Process keeps in its Backoff.
const backoffID = "keepalived"

// signalSettle is how long a new keepalived gets to install its signal handlers: a
// SIGHUP before that would kill it.
const signalSettle = time.Second

// pidFile is where keepalived writes its (parent) pid; vrrpPIDFile its VRRP child's.
func (p *Process) pidFile() string     { return filepath.Join(p.Dir, "keepalived.pid") }
func (p *Process) vrrpPIDFile() string { return filepath.Join(p.Dir, "vrrp.pid") }

// Run starts keepalived and keeps it running until ctx ends, then stops it (SIGTERM,
// so that it sends priority-0 adverts and a peer takes over at once) and returns.
func (p *Process) Run(ctx context.Context) {
	for {
		p.BeforeStart(ctx)
		err := p.runOnce(ctx)
		p.OnExit(err)
		if ctx.Err() != nil {
			return
		}
		delay := p.nextDelay()
		klog.ErrorS(err, "keepalived exited; restarting", "after", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// nextDelay is the wait before restarting keepalived after a death now.
func (p *Process) nextDelay() time.Duration {
	p.Backoff.Next(backoffID, p.Backoff.Clock.Now())
	return p.Backoff.Get(backoffID)
}

func (p *Process) runOnce(ctx context.Context) error {
	args := append(append([]string{}, p.Command[1:]...),
		"--dont-fork", "--log-console", "--vrrp", "--use-file", p.ConfigFile,
		"--pid", p.pidFile(), "--vrrp_pid", p.vrrpPIDFile())
	cmd := exec.Command(p.Command[0], args...)
	// Its own process group, so that its VRRP child can be stopped with it; SIGTERM
	// should the agent die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := startLogged(cmd)
	if err != nil {
		return err
	}
	klog.InfoS("Started keepalived", "pid", cmd.Process.Pid, "command", cmd.Args)
	p.setPID(cmd.Process.Pid)
	defer p.setPID(0)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		err = fmt.Errorf("keepalived (pid %d) exited: %w", cmd.Process.Pid, orExitedOK(err))
	case <-ctx.Done():
		err = p.stop(cmd, done)
	}
	// The VRRP child may outlive its parent; it stops gracefully on SIGTERM.
	stopGroup(cmd.Process.Pid, p.StopTimeout)
	<-out
	return err
}

// stop sends SIGTERM and waits StopTimeout for keepalived to exit, then kills it.
func (p *Process) stop(cmd *exec.Cmd, done <-chan error) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return ignoreSignalled(err) // exiting on SIGTERM is the point
	case <-time.After(p.StopTimeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("keepalived did not stop within %s after SIGTERM; killed it: %w", p.StopTimeout, <-done)
	}
}

// stopGroup ends what is left of the process group pgid: SIGTERM, then SIGKILL after
// grace. The group is the one Setpgid made for a child we started.
func stopGroup(pgid int, grace time.Duration) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // nobody left
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// startLogged starts cmd with its output logged line by line; the returned channel
// closes when every process holding the output (keepalived's children too) closed it.
func startLogged(cmd *exec.Cmd) (<-chan struct{}, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("starting %v: %w", cmd.Args, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = r.Close() }()
		logLines(r, cmd.Process.Pid)
	}()
	return done, nil
}

func logLines(r io.Reader, pid int) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		klog.InfoS("keepalived", "pid", pid, "line", s.Text())
	}
}

func orExitedOK(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

func (p *Process) setPID(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pid, p.started = pid, time.Now()
}

// Running reports whether keepalived is running.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid != 0
}

// Reload asks a running keepalived to re-read its configuration (SIGHUP). It reports
// false when none runs; the next start reads the file anyway.
func (p *Process) Reload() (bool, error) {
	p.mu.Lock()
	settle := signalSettle - time.Since(p.started)
	p.mu.Unlock()
	if settle > 0 {
		time.Sleep(settle)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		return false, nil
	}
	if err := syscall.Kill(p.pid, syscall.SIGHUP); err != nil {
		return false, fmt.Errorf("signalling keepalived (pid %d) to reload: %w", p.pid, err)
	}
	return true, nil
}

// ignoreSignalled drops the error of a process that exited because it was told to.
func ignoreSignalled(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil
	}
	return err
}
