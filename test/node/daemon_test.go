package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a process this test started; it is stopped by its PID, never by name.
type daemon struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // of Wait, once done is closed
}

// startDaemon starts bin with args, its output appended to logPath. It gets SIGKILL
// should the test process die without tearing down (Pdeathsig), and a process group of
// its own, so that a Ctrl-C reaches only the test (which then tears down in order).
func startDaemon(name, logPath string, env []string, bin string, args ...string) (*daemon, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the daemon's PID, then SIGKILL after grace.
func (d *daemon) stop(grace time.Duration) error {
	if d.exited() {
		return d.unexpectedExit()
	}
	_ = syscall.Kill(d.pid(), syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(d.pid(), syscall.SIGKILL)
	select {
	case <-d.done:
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed", d.name, d.pid(), grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.name, d.pid())
	}
}

// unexpectedExit describes a daemon that exited before it was stopped.
func (d *daemon) unexpectedExit() error {
	return fmt.Errorf("%s (pid %d) exited before it was stopped: %w; the end of %s:\n%s", d.name, d.pid(), d.err, d.logPath, tailFile(d.logPath, 15))
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// killPIDs sends SIGKILL to each PID and waits (10 s at most) until they are gone.
func killPIDs(pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d still alive 10 s after SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// alive reports whether the PID exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// processes lists the PIDs whose command line satisfies match.
func processes(match func(args []string) bool) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(raw) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

var errTimeout = errors.New("timed out")
