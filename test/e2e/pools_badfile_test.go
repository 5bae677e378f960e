package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// badPoolsFile has several problems at once.
const badPoolsFile = `
pools:
  - name: v4
    addresses: [10.210.211.0/24]
    colour: blue
  - name: v4
    addresses: ["ff02::/120"]
  - name: third
    addresses: [10.210.211.100-10.210.211.120]
    namespaces: [Not_A_Namespace]
reserved: [10.210.211.999]
`

// TestPoolsBadFileAtStart: a pools file that does not validate, or is missing, when the
// provider starts no longer stops it (a restart with such a file put every replica into
// a crash loop after the next node drain). The provider starts, leads, reports the file
// and every problem of it together in one log entry, and hands out nothing: a new
// Service waits with a Warning event PoolsFileInvalid until the file is valid, then gets
// its address within 5 s. The same holds when the flag names the file. A configuration
// that cannot work whatever the file says, both KEEPALIVED_SERVICE_CIDR and
// KEEPALIVED_POOLS_FILE, still stops the process at once, naming both.
//
// (Before issue 11 an invalid or missing file stopped the process with exit code 1.)
func TestPoolsBadFileAtStart(t *testing.T) {
	everyProblem := []string{
		`pool "v4": unknown field "colour"`,
		`pool #2: name "v4" is already used by pool #1`,
		`address "ff02::/120": special-purpose address: ff02::/120 overlaps multicast (ff00::/8)`,
		`pool "v4" address 10.210.211.0/24 overlaps pool "third" address 10.210.211.100-10.210.211.120`,
		`namespace "Not_A_Namespace" is not a namespace name`,
		`reserved "10.210.211.999"`,
	}

	t.Run("every problem of the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pools.yaml")
		writeFileAtomically(t, path, badPoolsFile)
		e := newEnv(t, config{env: []string{envPoolsFile + "=" + path}, manualStart: true})
		e.expectRunsWithBadFile("start", path, everyProblem...)
		pid := e.p.PID()
		e.createService("waits")
		e.expectWaiting("a new Service while the pools file is invalid", "waits", 6*time.Second)
		writeFileAtomically(t, path, "pools:\n  - name: ok\n    addresses: [10.210.211.10-10.210.211.11]\n")
		valid := time.Now()
		if got := e.expectResumed("pools file made valid", "waits", valid); got != "10.210.211.10" {
			t.Errorf("waits got %s, want 10.210.211.10", got)
		}
		e.waitEntryStep("pools file made valid", "10.210.211.10", e.key("waits"))
		e.assertSameProcess(pid)
	})

	t.Run("the flag names the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pools.yaml")
		writeFileAtomically(t, path, badPoolsFile)
		e := newEnv(t, config{args: []string{"--keepalived-pools-file=" + path}, manualStart: true})
		e.expectRunsWithBadFile("start", path, everyProblem...)
	})

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.yaml")
		e := newEnv(t, config{env: []string{envPoolsFile + "=" + path}, manualStart: true})
		e.expectRunsWithBadFile("start", path, "no such file")
		e.createService("waits")
		e.expectWaiting("a new Service while the pools file is missing", "waits", 0)
		writeFileAtomically(t, path, "pools:\n  - name: ok\n    addresses: [10.210.211.20-10.210.211.21]\n")
		if got := e.expectResumed("pools file written", "waits", time.Now()); got != "10.210.211.20" {
			t.Errorf("waits got %s, want 10.210.211.20", got)
		}
	})

	t.Run("both a service CIDR and a pools file", func(t *testing.T) {
		good := filepath.Join(t.TempDir(), "good.yaml")
		if err := os.WriteFile(good, []byte("pools:\n  - name: ok\n    addresses: [10.210.211.0/24]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runToExit(t, controlplane.ProviderOptions{
			Binary:     providerBinary,
			Kubeconfig: cp.ProviderKubeconfig,
			LogPath:    filepath.Join(outputDir, "pools-bad-file-at-start", "both.log"),
			Env:        []string{"KEEPALIVED_SERVICE_CIDR=10.210.212.0/24", envPoolsFile + "=" + good},
		})
		if code == 0 {
			t.Errorf("exit code 0, want non-zero; output:\n%s", out)
		}
		expectMentions(t, out, "KEEPALIVED_SERVICE_CIDR", envPoolsFile, good, "not both")
		if strings.Contains(out, "successfully acquired lease") {
			t.Errorf("the provider started leading with a bad configuration:\n%s", out)
		}
	})
}

// expectRunsWithBadFile starts the test's provider with a pools file that does not
// validate (or read), and checks that it leads, keeps running, and reports the file and
// every problem in one log entry.
func (e *env) expectRunsWithBadFile(step, path string, problems ...string) {
	e.t.Helper()
	if err := e.startProviderErr(); err != nil {
		e.t.Fatalf("%s: want the provider running and leading with the bad pools file %s: %v", step, path, err)
	}
	e.expectOneLogEntry(step+" (reports every problem together)", 0, reloadTimeout, append([]string{path}, problems...)...)
	if !e.p.Running() {
		e.t.Fatalf("%s: the provider exited after reporting the bad pools file:\n%s", step, e.p.Tail(40))
	}
}
