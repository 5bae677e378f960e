package chart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestChartOnAPIServer installs the chart into a real kube-apiserver: first for real,
// over the objects of `kubectl apply -k` (the README's adoption steps), then uninstalls
// it, and then checks that the API server accepts the chart's objects for each setup
// (server-side apply, dry run, strict field validation) as at a first install.
func TestChartOnAPIServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	cp := startControlPlane(ctx, t) // it applies manifests/

	adopted := t.Run("adopts the kustomize install and uninstalls", func(t *testing.T) {
		kubectl(ctx, t, cp, "apply", "-k", filepath.Join(repoRoot, "manifests", "agent"))
		for _, dir := range []string{"manifests", "manifests/agent"} {
			file := writeTemp(t, kustomize(t, dir))
			kubectl(ctx, t, cp, "annotate", "-f", file, "meta.helm.sh/release-name="+releaseName, "meta.helm.sh/release-namespace="+namespace)
			kubectl(ctx, t, cp, "label", "-f", file, "app.kubernetes.io/managed-by=Helm")
		}
		out, err := helm(t, "install", releaseName, chartDir, "--namespace", namespace, "--kubeconfig", cp.AdminKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"STATUS: deployed", "NOTES:", "The node agent runs on"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("helm install printed no %q:\n%s", want, out)
			}
		}
		if out, err := helm(t, "uninstall", releaseName, "--namespace", namespace, "--wait", "--kubeconfig", cp.AdminKubeconfig); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if out, err := cp.Kubectl(ctx, "-n", namespace, "get", "deployment/keepalived-cloud-provider", "daemonset/keepalived-vip-agent"); err == nil {
			t.Errorf("helm uninstall left the workloads:\n%s", out)
		}
	})
	if !adopted {
		t.Fatal("the release's objects may be left: the dry runs below would not be first installs")
	}

	kubectl(ctx, t, cp, "create", "namespace", "other")
	tests := []struct{ name, values string }{
		{name: "defaults"},
		{name: "pools file", values: poolsFileValues(t, "examples/pools-file/pools.yaml")},
		{name: "agent disabled", values: "agent: {enabled: false}"},
		{name: "node init", values: "nodeInit: {enabled: true}"},
		{name: "ConfigMap in another namespace", values: otherConfigMapValues},
	}
	t.Run("dry run", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				out, err := helmTemplate(t, tc.values)
				if err != nil {
					t.Fatal(err)
				}
				applied := kubectl(ctx, t, cp, "apply", "--server-side", "--dry-run=server", "--field-manager=helm", "-f", writeTemp(t, out))
				if got, want := bytes.Count(applied, []byte("(server dry run)")), len(decode(t, out)); got != want {
					t.Errorf("kubectl applied %d objects, the chart rendered %d:\n%s", got, want, applied)
				}
			})
		}
	})
}

func startControlPlane(ctx context.Context, t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	dir := filepath.Join(repoRoot, "_output", "chart")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	cp, err := controlplane.Start(ctx, controlplane.Options{Root: repoRoot, Log: log})
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v (see %s)", err, log.Name())
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}

func kubectl(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, args ...string) []byte {
	t.Helper()
	out, err := cp.Kubectl(ctx, args...)
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	file := filepath.Join(tempDir(t), "objects.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
