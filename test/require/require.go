// Package require is the one rule for integration tests whose prerequisites are a
// machine's, not something the test can build (root, Debian packages): in CI, where
// make test installs them and KCP_REQUIRE_DATAPLANE=1 is set, a missing one fails the
// test; elsewhere it is skipped with a loud line saying what is missing and how to
// get it, which make test repeats after the run.
package require

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// EnvVar makes missing prerequisites a failure instead of a skip (.ci/run sets it).
const EnvVar = "KCP_REQUIRE_DATAPLANE"

// Prerequisites fails (with EnvVar=1) or skips t when missing is not empty. what
// names the test ("DATAPLANE TEST"), howTo says how to get what is missing.
func Prerequisites(t testing.TB, what string, missing []string, howTo string) {
	t.Helper()
	if len(missing) == 0 {
		return
	}
	msg := what + " NOT RUN: missing " + strings.Join(missing, "; ")
	if os.Getenv(EnvVar) == "1" {
		t.Fatalf("%s (%s=1 requires it; %s)", msg, EnvVar, howTo)
	}
	fmt.Println("=== " + msg + " (" + howTo + ")")
	t.Skip(msg)
}
