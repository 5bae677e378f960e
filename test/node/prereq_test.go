package node

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/test/require"
)

// requirePrerequisites skips (or fails, in CI) unless the machine can run a real node.
func requirePrerequisites(t *testing.T) {
	t.Helper()
	require.Prerequisites(t, "REAL-NODE TEST", missingPrerequisites(),
		"make test installs them with hack/node-prereqs.sh: containerd runc containernetworking-plugins debootstrap ca-certificates, as root")
}

func missingPrerequisites() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"containerd", "ctr", "runc", "ip", "debootstrap", "make", "go", "tar", "sha256sum"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" (not in PATH)")
		}
	}
	for _, f := range []string{cniBinDir + "/bridge", cniBinDir + "/host-local", cniBinDir + "/loopback", "/etc/ssl/certs/ca-certificates.crt"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(cgroupHierarchies()) == 0 {
		missing = append(missing, "a cgroup file system under /sys/fs/cgroup")
	}
	// kubelet listens on 127.0.0.1 and the API server reaches it by the node's name.
	if name, err := nodeName(); err != nil {
		missing = append(missing, err.Error())
	} else if !resolvesToLoopbackOnly(name) {
		missing = append(missing, fmt.Sprintf("the host name %q resolving to 127.0.0.1 only (kubelet listens there; /etc/hosts)", name))
	}
	return missing
}

// nodeName is the name kubelet registers its Node under: the host name, lower case.
func nodeName() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("the host name: %w", err)
	}
	return strings.ToLower(h), nil
}

func resolvesToLoopbackOnly(name string) bool {
	ips, err := net.LookupIP(name)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
