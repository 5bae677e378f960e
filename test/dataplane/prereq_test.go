package dataplane

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/test/require"
)

// requirePrerequisites skips (or fails, in CI) unless the machine can run the test.
func requirePrerequisites(t *testing.T) {
	t.Helper()
	require.Prerequisites(t, "DATAPLANE TEST", missingPrerequisites(),
		"make test installs them: apt-get install keepalived iproute2 iputils-ping arping bubblewrap curl, as root")
}

func missingPrerequisites() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"ip", "keepalived", "ping", "arping", "bwrap", "setpriv", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" (not in PATH)")
		}
	}
	if len(missing) > 0 {
		return missing
	}
	probe := fmt.Sprintf("kcp-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return append(missing, fmt.Sprintf("network namespaces (ip netns add: %v: %s)", err, strings.TrimSpace(string(out))))
	}
	_ = exec.Command("ip", "netns", "del", probe).Run()
	return nil
}
