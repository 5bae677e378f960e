package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPoolsCommand: `keepalived-cloud-provider check-pools FILE` validates a pools
// file without a cluster, so an edit is caught before it reaches a restarting provider:
// the example passes, a bad file exits 1 listing every problem.
func TestCheckPoolsCommand(t *testing.T) {
	example := filepath.Join(repoRoot, "examples", "pools-file", "pools.yaml")
	out, err := exec.Command(providerBinary, "check-pools", example).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid") {
		t.Errorf("check-pools %s: %v\n%s", example, err, out)
	}
	bad := filepath.Join(t.TempDir(), "pools.yaml")
	if err := os.WriteFile(bad, []byte("pools:\n  - name: lo\n    addresses: [127.0.0.0/30]\n  - addresses: [10.1.0.0/24]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(providerBinary, "check-pools", bad).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("check-pools of a bad file: %v, want exit code 1\n%s", err, out)
	}
	for _, want := range []string{bad, `pool "lo"`, "loopback", "pool #2: name is required"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check-pools output lacks %q:\n%s", want, out)
		}
	}
}
