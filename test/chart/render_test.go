package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

const (
	chartDir    = "charts/keepalived-cloud-provider"
	releaseName = "keepalived-cloud-provider"
	namespace   = "kube-system" // where the README installs it, as manifests/ does
)

// helmTemplate renders the chart into namespace with the given values files (YAML
// text, written to files here). It returns helm's stdout, or an error holding stderr.
func helmTemplate(t *testing.T, values ...string) ([]byte, error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", namespace}
	dir := tempDir(t)
	for i, v := range values {
		file := filepath.Join(dir, fmt.Sprintf("values-%d.yaml", i))
		if err := os.WriteFile(file, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", file)
	}
	return helm(t, args...)
}

// tempDir is t.TempDir without the test's name in the path: helm and kubectl split
// file arguments on commas, which names may hold.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chart-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// helm runs the pinned helm from the repository root, as `make lint` does.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = repoRoot
	// Nothing from the user's helm set-up (repositories, plugins, registry logins).
	home := tempDir(t)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %v: %w\n%s", args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// installHelm builds the Makefile's pinned helm into bin/tools once (go install of a
// module version, outside our go.mod), so that each call does not pay for go run.
func installHelm() (string, error) {
	version, err := makeVariable("HELM_VERSION")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(repoRoot, "bin", "tools", "helm-"+version)
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "install", "helm.sh/helm/v3/cmd/helm@"+version)
	cmd.Dir, cmd.Env = repoRoot, append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install helm@%s: %w\n%s", version, err, out)
	}
	return bin, nil
}

// makeVariable reads `NAME := value` from the Makefile, so that the pin lives in one place.
func makeVariable(name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("the Makefile sets no %s", name)
	}
	return string(m[1]), nil
}

// kustomize renders a kustomize directory (relative to the root) with the control plane's kubectl.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	out, err := controlplane.Kustomize(context.Background(), repoRoot, dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decoder is strict: a field the API types do not have is an error, not silently dropped.
var decoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// decode reads a stream of YAML documents into typed objects.
func decode(t *testing.T, stream []byte) []runtime.Object {
	t.Helper()
	docs, err := controlplane.Documents(stream)
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, doc := range docs {
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding\n%s\n: %v", doc, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(doc []byte) []byte { return commentLine.ReplaceAll(doc, nil) }
