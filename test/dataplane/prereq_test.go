package dataplane

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// requireEnvVar makes missing prerequisites a failure instead of a skip (CI sets it).
const requireEnvVar = "KCP_REQUIRE_DATAPLANE"

// requirePrerequisites skips (or fails, in CI) unless the machine can run the test.
func requirePrerequisites(t *testing.T) {
	t.Helper()
	missing := missingPrerequisites()
	if len(missing) == 0 {
		return
	}
	msg := "DATAPLANE TEST NOT RUN: missing " + strings.Join(missing, "; ")
	if os.Getenv(requireEnvVar) == "1" {
		t.Fatalf("%s (%s=1 requires it)", msg, requireEnvVar)
	}
	fmt.Println("=== " + msg + " (apt-get install keepalived iproute2 iputils-ping arping bubblewrap curl, run as root)")
	t.Skip(msg)
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
