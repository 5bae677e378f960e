package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// pauseImage is the sandbox image hack/nodetools.sh packs (bin/node/pause.tar).
const pauseImage = "kcpnode.local/pause:1"

// containerdConfig is Debian's containerd 1.6 with everything under dir. Two settings are
// forced by this machine: restrict_oom_score_adj (root has no CAP_SYS_RESOURCE, so runc
// cannot give the sandbox its negative oom_score_adj) and cgroupfs (no systemd).
const containerdConfig = `version = 2
root = "{{dir}}/containerd/root"
state = "{{dir}}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{{sock}}"
[ttrpc]
  address = "{{sock}}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{{dir}}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "` + pauseImage + `"
  stream_server_address = "127.0.0.1"
  stream_server_port = "{{streamPort}}"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "` + cniBinDir + `"
    conf_dir = "{{dir}}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{{dir}}/containerd/runc"
`

// cniConfig is a bridge with host-local addresses and no masquerading (so no iptables
// rules, and no route out of the pods but to the bridge's subnet).
const cniConfig = `{"cniVersion":"1.0.0","name":"kcpnode","plugins":[{"type":"bridge","bridge":"` + bridgeName +
	`","isGateway":true,"ipMasq":false,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":"{{dir}}/cni/ipam","ranges":[[{"subnet":"` + podSubnet + `"}]]}}]}`

func fill(tmpl string, vars map[string]string) string {
	for k, v := range vars {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	return tmpl
}

type containerd struct {
	sock string
	d    *daemon
}

// startContainerd writes the configuration and starts containerd; the tear-down kills
// the tasks left, stops containerd and then its shims (which outlive it), by PID.
func startContainerd(ctx context.Context, td *teardown, dir, logDir string, streamPort int) (*containerd, error) {
	c := &containerd{sock: filepath.Join(dir, "containerd", "containerd.sock")}
	vars := map[string]string{"dir": dir, "sock": c.sock, "streamPort": fmt.Sprint(streamPort)}
	for path, content := range map[string]string{
		filepath.Join(dir, "containerd.toml"):                     fill(containerdConfig, vars),
		filepath.Join(dir, "cni", "net.d", "10-kcpnode.conflist"): fill(cniConfig, vars),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	d, err := startDaemon("containerd", filepath.Join(logDir, "containerd.log"), nil, "containerd", "--config", filepath.Join(dir, "containerd.toml"))
	if err != nil {
		return nil, err
	}
	c.d = d
	td.add("stop containerd and its shims", c.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.ctr(ctx, "version"); err == nil {
			return c, nil
		}
		if d.exited() {
			return nil, d.unexpectedExit()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("containerd did not answer on %s within 30 s: %w", c.sock, errTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ctr runs ctr against this containerd in the CRI's namespace.
func (c *containerd) ctr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// importImage imports an OCI archive as a user without a registry would.
func (c *containerd) importImage(ctx context.Context, archive string) error {
	_, err := c.ctr(ctx, "images", "import", archive)
	return err
}

// hasImage reports whether containerd knows the reference.
func (c *containerd) hasImage(ctx context.Context, ref string) (bool, error) {
	out, err := c.ctr(ctx, "images", "ls", "-q")
	return slices.Contains(strings.Fields(out), ref), err
}

// taskPIDs maps the container IDs of running tasks to their init PIDs.
func (c *containerd) taskPIDs(ctx context.Context) (map[string]int, error) {
	out, err := c.ctr(ctx, "tasks", "ls")
	if err != nil {
		return nil, err
	}
	pids := map[string]int{}
	for _, line := range strings.Split(out, "\n")[1:] {
		var id, status string
		var pid int
		if n, _ := fmt.Sscan(line, &id, &pid, &status); n == 3 {
			pids[id] = pid
		}
	}
	return pids, nil
}

// shims lists the PIDs of the shims that serve this containerd (and no other).
func (c *containerd) shims() ([]int, error) {
	return processes(func(args []string) bool {
		return strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") && slices.Contains(args, c.sock)
	})
}

func (c *containerd) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if !c.d.exited() {
		if pids, err := c.taskPIDs(ctx); err == nil {
			for id := range pids {
				_, _ = c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
			}
		}
	}
	shims, err := c.shims()
	if err != nil {
		errs = append(errs, err)
	}
	if err := c.d.stop(15 * time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := killPIDs(shims); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
