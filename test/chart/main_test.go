package chart

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

var repoRoot, helmBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repoRoot, err = controlplane.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		return 1
	}
	// kubectl (for kustomize and apply) and the API server; built when missing.
	if err := controlplane.EnsureBinaries(context.Background(), repoRoot, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		return 1
	}
	if helmBin, err = installHelm(); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		return 1
	}
	return m.Run()
}
