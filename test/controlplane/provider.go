package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProviderOptions describe how to run the keepalived-cloud-provider binary.
type ProviderOptions struct {
	// Binary is the built provider (BuildProvider).
	Binary string
	// Kubeconfig is the identity it runs as; normally ControlPlane.ProviderKubeconfig.
	Kubeconfig string
	// LogPath receives the process's stdout and stderr, appended across restarts.
	LogPath string
	// Env is added, as KEY=VALUE, to this process's environment without any KEEPALIVED_*
	// or KUBECONFIG variable: nothing is inherited by accident.
	Env []string
	// Args come after the standard flags, so they override them.
	Args []string
	// NoStandardFlags passes only Args (for --version and the like).
	NoStandardFlags bool
}

// Provider is a keepalived-cloud-provider process that can be stopped, killed and
// started again with the same options, secure port and log file.
type Provider struct {
	opts ProviderOptions
	// Port is the secure port (/healthz, /metrics) on 127.0.0.1.
	Port int

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current process has exited
	waitErr  error
	logStart int64 // log offset where the current process's output begins
	starts   int
}

// StartProvider starts the binary; see Provider.Start.
func StartProvider(opts ProviderOptions) (*Provider, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: opts, Port: ports[0]}
	return p, p.Start()
}

// Args are the command-line arguments the process gets.
func (p *Provider) Args() []string {
	if p.opts.NoStandardFlags {
		return p.opts.Args
	}
	kc := p.opts.Kubeconfig
	return append([]string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.Port),
		"--leader-elect-lease-duration=4s",
		"--leader-elect-renew-deadline=3s",
		"--leader-elect-retry-period=1s",
		"--v=2",
	}, p.opts.Args...)
}

// Start runs the process again after it exited (or for the first time).
func (p *Provider) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.exitedLocked() {
		return fmt.Errorf("provider (pid %d) is still running", p.cmd.Process.Pid)
	}
	if err := os.MkdirAll(filepath.Dir(p.opts.LogPath), 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(p.opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	p.starts++
	_, _ = fmt.Fprintf(log, "===== start %d: %s %s\n", p.starts, p.opts.Binary, strings.Join(p.Args(), " "))
	if p.logStart, err = log.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	cmd := exec.Command(p.opts.Binary, p.Args()...)
	cmd.Env = append(cleanEnv(os.Environ(), "KEEPALIVED_*", "KUBECONFIG"), p.opts.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	// Should the process that started it die without cleaning up, take the provider along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.opts.Binary, err)
	}
	p.cmd, p.done, p.waitErr = cmd, make(chan struct{}), nil
	go func(done chan struct{}) {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}(p.done)
	return nil
}

func (p *Provider) exitedLocked() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// PID is the current process's id.
func (p *Provider) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the current process has not exited yet.
func (p *Provider) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.exitedLocked()
}

// LogPath is the file holding the output of every run.
func (p *Provider) LogPath() string { return p.opts.LogPath }

// Stop sends SIGTERM and waits for the process to exit, sending SIGKILL after grace.
// The upstream controller manager does not release its leader-election lease on SIGTERM.
func (p *Provider) Stop(grace time.Duration) error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if _, err := p.Wait(ctx); err == nil {
		return nil
	}
	return p.Kill()
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Provider) Kill() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	_, err := p.Wait(context.Background())
	return err
}

func (p *Provider) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.exitedLocked() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling provider pid %d: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

// Wait waits for the current process to exit and returns its exit code (-1 when killed
// by a signal).
func (p *Provider) Wait(ctx context.Context) (int, error) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil {
		return 0, errors.New("provider was never started")
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, fmt.Errorf("provider pid %d still running: %w", cmd.Process.Pid, ctx.Err())
	}
	return cmd.ProcessState.ExitCode(), nil
}

// Output is what the current process printed so far.
func (p *Provider) Output() string {
	data, _ := os.ReadFile(p.opts.LogPath)
	p.mu.Lock()
	start := p.logStart
	p.mu.Unlock()
	if start > int64(len(data)) {
		return ""
	}
	return string(data[start:])
}

// WaitForOutput waits until the current process has printed text (in any case).
func (p *Provider) WaitForOutput(ctx context.Context, text string) error {
	for {
		if strings.Contains(strings.ToLower(p.Output()), strings.ToLower(text)) {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("provider exited before printing %q", text)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("provider did not print %q: %w", text, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitLeading waits until the current process has acquired the leader-election lease,
// which takes up to the lease duration (4 s) after a previous holder stopped renewing it.
func (p *Provider) WaitLeading(ctx context.Context) error {
	return p.WaitForOutput(ctx, "successfully acquired lease")
}

// Tail is the last n lines of the log (of every run).
func (p *Provider) Tail(n int) string {
	data, err := os.ReadFile(p.opts.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
