package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// subject is one provider binary the bench runs: ours, or the null provider that
// shows what the upstream controller manager alone costs.
type subject struct {
	name   string // in the report and the log file names
	binary string
	env    []string
}

// buildSubjects builds our provider and the null provider into root/bin/bench.
func buildSubjects(ctx context.Context, root string) (ours, null subject, err error) {
	dir := filepath.Join(root, "bin", "bench")
	ours = subject{name: "ours", binary: filepath.Join(dir, "keepalived-cloud-provider"),
		env: []string{"KEEPALIVED_SERVICE_CIDR=" + poolCIDR}}
	null = subject{name: "null", binary: filepath.Join(dir, "nullprovider")}
	if err := controlplane.BuildProvider(ctx, root, ours.binary, "v0.0.0-bench"); err != nil {
		return ours, null, err
	}
	return ours, null, buildNull(ctx, root, null.binary)
}

func buildNull(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./test/bench/nullprovider")
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./test/bench/nullprovider: %w\n%s", err, output)
	}
	return nil
}
