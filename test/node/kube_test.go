package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kubeletConfig is kubelet on 127.0.0.1 with everything under dir. Forced by this
// machine: failCgroupV1 false (cgroup v1), cgroupfs (no systemd), no iptables chains,
// no outside resolv.conf, and image GC off (the imported images cannot be pulled again).
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://{{sock}}
address: 127.0.0.1
port: {{port}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{healthzPort}}
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
makeIPTablesUtilChains: false
resolvConf: ""
podLogsDir: {{dir}}/kubelet/pod-logs
volumePluginDir: {{dir}}/kubelet/volume-plugins
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
`

// nodeComponents are the processes of the node, in the order they stop.
type nodeComponents struct {
	kubelet, kcm, scheduler *daemon
	kubeletPort             int
}

// startControllers starts kube-controller-manager (ReplicaSets, DaemonSets, the
// not-ready taint, kube-root-ca.crt) and kube-scheduler, on 127.0.0.1 with no leader
// election, as admin.
func (n *nodeComponents) startControllers(td *teardown, binDir, dir, logDir, kubeconfig, caFile string, ports []int) error {
	var err error
	n.kcm, err = startDaemon("kube-controller-manager", filepath.Join(logDir, "kube-controller-manager.log"), nil,
		filepath.Join(binDir, "kube-controller-manager"), "--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", ports[0]), "--leader-elect=false",
		"--root-ca-file="+caFile, "--flex-volume-plugin-dir="+filepath.Join(dir, "kcm", "volume-plugins"), "--v=1")
	if err != nil {
		return err
	}
	td.add("stop kube-controller-manager", func() error { return n.kcm.stop(15 * time.Second) })
	n.scheduler, err = startDaemon("kube-scheduler", filepath.Join(logDir, "kube-scheduler.log"), nil,
		filepath.Join(binDir, "kube-scheduler"), "--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", ports[1]), "--leader-elect=false", "--v=1")
	if err != nil {
		return err
	}
	td.add("stop kube-scheduler", func() error { return n.scheduler.stop(15 * time.Second) })
	return nil
}

// startKubelet starts kubelet with the Node's InternalIP on the bridge, so that the
// agent's host-network pod (and its liveness probe) use the test's address, and with
// --cloud-provider=external, as the out-of-tree provider guide says: its Node waits,
// tainted, for the provider to initialise it (manifests/components/node-init).
func (n *nodeComponents) startKubelet(td *teardown, binDir, dir, logDir, kubeconfig, sock string, ports []int) error {
	n.kubeletPort = ports[0]
	cfg := fill(kubeletConfig, map[string]string{"dir": dir, "sock": sock, "port": fmt.Sprint(ports[0]), "healthzPort": fmt.Sprint(ports[1])})
	cfgPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	var err error
	n.kubelet, err = startDaemon("kubelet", filepath.Join(logDir, "kubelet.log"), nil, filepath.Join(binDir, "kubelet"),
		"--config="+cfgPath, "--kubeconfig="+kubeconfig, "--root-dir="+filepath.Join(dir, "kubelet", "root"),
		"--cert-dir="+filepath.Join(dir, "kubelet", "pki"), "--node-ip="+bridgeIP, "--cloud-provider=external", "--v=2")
	if err != nil {
		return err
	}
	td.add("stop kubelet", func() error { return n.kubelet.stop(20 * time.Second) })
	return nil
}

// alive fails with the log of the first component that exited.
func (n *nodeComponents) alive() error {
	for _, d := range []*daemon{n.kcm, n.scheduler, n.kubelet} {
		if d != nil && d.exited() {
			return d.unexpectedExit()
		}
	}
	return nil
}

// taintUninitialized is what kubelet --cloud-provider=external puts on its Node
// until a cloud controller manager initialises it.
const taintUninitialized = "node.cloudprovider.kubernetes.io/uninitialized"

// waitNodeReady waits until the Node is Ready and has no taint but
// taintUninitialized (kube-controller-manager removes node.kubernetes.io/not-ready
// once kubelet reports Ready; the provider removes the other one).
func (n *nodeComponents) waitNodeReady(ctx context.Context, c kubernetes.Interface, name string) error {
	return pollUntil(ctx, 2*time.Minute, "Node "+name+" Ready without taints", func() (bool, string, error) {
		if err := n.alive(); err != nil {
			return false, "", err
		}
		node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready := false
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		others := slices.DeleteFunc(slices.Clone(node.Spec.Taints), func(t corev1.Taint) bool { return t.Key == taintUninitialized })
		return ready && len(others) == 0, fmt.Sprintf("ready=%t taints=%v", ready, node.Spec.Taints), nil
	})
}

// pollUntil calls check every 100 ms until it is done, fails, or limit passes; the
// error says what was awaited and what was seen last.
func pollUntil(ctx context.Context, limit time.Duration, what string, check func() (done bool, seen string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var seen string
	for {
		done, s, err := check()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if ctx.Err() == nil {
			seen = s
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (%s); last seen: %s", what, errTimeout, limit, seen)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
