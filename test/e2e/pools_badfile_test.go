package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestPoolsBadFileAtStart: a pools file with several problems stops the process at once,
// non-zero, with one message naming the file and every problem; so does a missing file;
// and giving both KEEPALIVED_SERVICE_CIDR and KEEPALIVED_POOLS_FILE stops it naming both.
func TestPoolsBadFileAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
pools:
  - name: v4
    addresses: [10.210.211.0/24]
    colour: blue
  - name: v4
    addresses: ["fd00::/120"]
  - name: third
    addresses: [10.210.211.100-10.210.211.120]
    namespaces: [Not_A_Namespace]
reserved: [10.210.211.999]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("pools:\n  - name: ok\n    addresses: [10.210.211.0/24]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	everyProblem := []string{
		"invalid pools file " + bad,
		`pool "v4": unknown field "colour"`,
		`pool #2: name "v4" is already used by pool #1`,
		`address "fd00::/120": IPv6 is not supported`,
		`pool "v4" address 10.210.211.0/24 overlaps pool "third" address 10.210.211.100-10.210.211.120`,
		`namespace "Not_A_Namespace" is not a namespace name`,
		`reserved "10.210.211.999"`,
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
		once string // must appear exactly once: one message
	}{{
		name: "every problem of the file",
		env:  []string{envPoolsFile + "=" + bad},
		want: append([]string{envPoolsFile, "--keepalived-pools-file"}, everyProblem...),
		once: "invalid pools file",
	}, {
		name: "the flag names the file",
		args: []string{"--keepalived-pools-file=" + bad},
		want: append([]string{"--keepalived-pools-file"}, everyProblem...),
		once: "invalid pools file",
	}, {
		name: "missing file",
		env:  []string{envPoolsFile + "=" + missing},
		want: []string{envPoolsFile, missing, "no such file"},
	}, {
		name: "both a service CIDR and a pools file",
		env:  []string{"KEEPALIVED_SERVICE_CIDR=10.210.212.0/24", envPoolsFile + "=" + good},
		want: []string{"KEEPALIVED_SERVICE_CIDR", envPoolsFile, good, "not both"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runToExit(t, controlplane.ProviderOptions{
				Binary:     providerBinary,
				Kubeconfig: cp.ProviderKubeconfig,
				LogPath:    filepath.Join(outputDir, "pools-bad-file-at-start", dnsName(tt.name)+".log"),
				Env:        tt.env,
				Args:       tt.args,
			})
			if code == 0 {
				t.Errorf("exit code 0, want non-zero; output:\n%s", out)
			}
			expectMentions(t, out, tt.want...)
			if tt.once != "" {
				if n := strings.Count(out, tt.once); n != 1 {
					t.Errorf("%q appears %d times, want once (one message):\n%s", tt.once, n, out)
				}
			}
			if strings.Contains(out, "successfully acquired lease") {
				t.Errorf("the provider started leading with a bad configuration:\n%s", out)
			}
		})
	}
}
