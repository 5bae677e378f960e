package controlplane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the Go module path of the repository this package belongs to.
const Module = "github.com/munnerz/keepalived-cloud-provider"

// RepoRoot walks up from the working directory to the directory whose go.mod declares Module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", Module)
		}
		dir = parent
	}
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == Module
		}
	}
	return false
}

// AssetsDir is where kube-apiserver, etcd and kubectl are: $KUBEBUILDER_ASSETS when set,
// else <root>/bin/controlplane (where hack/controlplane.sh builds them).
func AssetsDir(root string) string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(root, "bin", "controlplane")
}

// EnsureBinaries runs hack/controlplane.sh, which builds kube-apiserver, kubectl and etcd
// when one is missing or reports another version (minutes when cold, about a second
// otherwise). The script's progress goes to progress.
func EnsureBinaries(ctx context.Context, root string, progress io.Writer) error {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "controlplane.sh"))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/controlplane.sh: %w", err)
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(AssetsDir(root), name)); err != nil {
			return fmt.Errorf("control plane binary missing after hack/controlplane.sh: %w", err)
		}
	}
	return nil
}

// BuildProvider builds ./cmd/keepalived-cloud-provider into out, reporting version as
// its --version (k8s.io/component-base/version.gitVersion).
func BuildProvider(ctx context.Context, root, out, version string) error {
	cmd := exec.CommandContext(ctx, "go", "build",
		"-ldflags", "-X k8s.io/component-base/version.gitVersion="+version,
		"-o", out, "./cmd/keepalived-cloud-provider")
	cmd.Dir = root
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./cmd/keepalived-cloud-provider: %w\n%s", err, output)
	}
	return nil
}
