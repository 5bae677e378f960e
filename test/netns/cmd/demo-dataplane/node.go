package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// agent is one keepalived-vip-agent process inside its node's namespace.
type agent struct {
	node    *netns.Node
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
}

// startAgent runs binary with args inside n's namespace, its output into logPath.
func startAgent(n *netns.Node, binary string, args []string, logPath string) (*agent, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }() // the agent has its own copy
	cmd := netns.Command(n.NS, append([]string{binary}, args...)...)
	cmd.Env = netns.AgentEnv()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the agent of %s: %w", n.Name, err)
	}
	a := &agent{node: n, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(a.done) }()
	return a, nil
}

// pid is the agent's own process id (ip netns exec execs it).
func (a *agent) pid() int { return a.cmd.Process.Pid }

func (a *agent) running() bool {
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// terminate sends SIGTERM, as the kubelet does to a pod it stops.
func (a *agent) terminate() {
	if a.running() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// stop ends the agent: SIGTERM, then SIGKILL if it has not exited after grace.
func (a *agent) stop(grace time.Duration) error {
	a.terminate()
	select {
	case <-a.done:
		return nil
	case <-time.After(grace):
		_ = a.cmd.Process.Kill()
		<-a.done
		return fmt.Errorf("the agent of %s (pid %d) did not stop within %s of SIGTERM; killed", a.node.Name, a.pid(), grace)
	}
}
